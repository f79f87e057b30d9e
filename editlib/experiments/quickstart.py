"""00 · Quickstart: one CounterFact fact the model holds, written with each objective.

A demonstration, not a comparison: its notebook shows the library's calls themselves
(``Editor``, ``edited()``, the diagnostics, the exact restore) after the shared setup, so
it declares its parameters and sizes here and runs on the first model of a suite only.
"""
from __future__ import annotations

from .experiment import Experiment, register


class Quickstart(Experiment):
    key, name = "00", "00_quickstart"
    finding = "one fact, four objectives (a demonstration)"
    parameters = {"candidates": 20, "methods": ["rome", "memit", "emmet", "alphaedit"], "layers": "single",
                  "edit_overrides": {}, "new_tokens": 8}
    profiles = {"tiny": {},                            # CI runs the quickstart at its real size, as users do
                "paper": {"dataset": "counterfact_simple", "split": "eval"}}
    side_tables = ()
    once_per_suite = True
    resumable = False                                   # a minute: nothing to resume

    def cases_needed(self, params):
        return params["candidates"]


QUICKSTART = register(Quickstart())
