"""Profiles: named sets of notebook parameters, so that one command runs the suite at a
chosen size. A profile is data, not a code path: the notebooks are the same, only their
parameters change, and ``-p NAME VALUE`` still overrides any of them.

- ``tiny``: seconds per notebook, for CI (checks that every cell runs and writes its outputs).
- ``quick``: the notebooks' own defaults; the CPU default: the whole suite on both offline
  models in ≤ 35 min on a 2-core CPU, cold caches, with or without bfloat16 instructions (01/02:
  8 single edits; 03: batches to 32; 04: 24 sequential edits per setting, z in bfloat16
  only where that pays; the quickstart on the first model only). Figures that show each comparison, not ones
  that resolve it: that is the paper profile's job.
- ``paper``: sized so that each finding is resolved: ≥ 200 single-edit cases in 01/02 (GE, which
  needs sampling after every edit, on the first 50 of 01's); in 03,
  batches from 1 to past the model's key width d_k with ≥ 64 scored facts per size; in 04,
  3,000 sequential edits (30 batches of 100); CounterFact cases from the report split.
  Minutes per model on a GPU, hours on a 2-core CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..base.errors import HyperparameterError
from ..experiments.experiment import get_experiment


@dataclass(frozen=True)
class Profile:
    """A size for the whole suite: each experiment declares what it sets under this name
    (:attr:`~editlib.experiments.experiment.Experiment.profiles`); ``out_subdir`` is the
    folder under ``figures/`` its outputs go to."""

    name: str
    description: str
    out_subdir: str = ""

    def parameters(self, notebook: str, model: str) -> dict:
        """What this profile sets for ``notebook`` (key or name) on ``model``."""
        return get_experiment(notebook).profile_parameters(self.name, model)


PROFILES = {p.name: p for p in [
    Profile("tiny", "CI: every cell runs, in seconds (2 cases, 4 z steps, small statistics)", out_subdir="tiny"),
    Profile("quick", "the notebooks' defaults: the offline fact set, 8 single edits, batches to 32, "
                     "24 sequential edits per setting"),
    Profile("paper", "the findings resolved: 200 single edits; batches past d_k, 64 scored per size",
            out_subdir="paper"),
]}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise HyperparameterError(f"unknown profile {name!r}; available: {sorted(PROFILES)}")
    return PROFILES[name]
