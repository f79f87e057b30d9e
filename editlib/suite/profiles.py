"""Profiles: named sets of notebook parameters, so that one command runs the suite at a
chosen size. A profile is data, not a code path: the notebooks are the same, only their
parameters change, and ``-p NAME VALUE`` still overrides any of them.

- ``tiny``: seconds per notebook, for CI (checks that every cell runs and writes its outputs).
- ``quick``: the notebooks' own defaults; the CPU default: the whole suite on both offline
  models in ≤ 30 min on a 2-core CPU, cold caches, with or without bfloat16 instructions (01/02:
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

from dataclasses import dataclass, field

from ..base.errors import HyperparameterError

# The z budget of notebook 03 (every setting alike): 3 templates, 10 steps. The paper's own
# batch experiments reuse one z per fact across settings the same way.
LIGHT_Z = {"context_template_lengths": [[10, 2]], "v_num_grad_steps": 10}
PAPER_BATCHES = [1, 16, 64, 256, 512, 1024, 1536, 2048, 3072]


@dataclass(frozen=True)
class Profile:
    """Parameters per notebook ("01", "02", "03"; "*" for all) and per model (overriding
    them for one model), and the folder under ``figures/`` its outputs go to."""

    name: str
    description: str
    notebooks: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)     # {model: {notebook: {parameter: value}}}
    out_subdir: str = ""

    def parameters(self, notebook: str, model: str) -> dict:
        per_model = self.models.get(model, {})
        return {"profile": self.name,
                **self.notebooks.get("*", {}), **self.notebooks.get(notebook, {}),
                **per_model.get("*", {}), **per_model.get(notebook, {})}


def _batches_to(last: int) -> list[int]:
    return [b for b in PAPER_BATCHES if b <= last]


PROFILES = {p.name: p for p in [
    Profile("tiny", "CI: every cell runs, in seconds (2 cases, 4 z steps, small statistics)",
            notebooks={"*": {"edit_overrides": {"v_num_grad_steps": 4, "mom2_n_tokens": 20_000}},
                       "00": {"edit_overrides": {}},       # the quickstart at its real size: CI runs it as users do
                       "01": {"n_cases": 2, "generation": False},
                       "02": {"n_cases": 2},
                       "03": {"n_cases": 2, "batch_sizes": [1, 2], "cond_batch_sizes": [1, 2, 4]},
                       "04": {"batch_size": 2, "n_batches": 2, "scored": 2, "retention": 2, "ability_every": 1,
                              "ppl_tokens": 256, "ge_cases": 1, "gen_tokens": 5,
                              "edit_overrides": {"v_num_grad_steps": 4, "mom2_n_tokens": 20_000,
                                                 "context_template_lengths": [[10, 1]]}}},
            out_subdir="tiny"),
    Profile("quick", "the notebooks' defaults: the offline fact set, 8 single edits, batches to 32, "
                     "24 sequential edits per setting"),
    Profile("paper", "the findings resolved: 200 single edits; batches past d_k, 64 scored per size",
            notebooks={"*": {"dataset": "counterfact_simple", "split": "eval"},
                       "01": {"n_cases": 200, "generation": 50, "gen_tokens": 40},
                       "02": {"n_cases": 200, "methods": ["rome", "memit", "emmet"]},
                       "03": {"n_cases": 3072, "batch_sizes": _batches_to(3072), "scored": 64,
                              "edit_overrides": LIGHT_Z,
                              "cond_batch_sizes": [1, 16, 64, 256, 512, 1024, 1536, 2048, 3072, 4096]},
                       "04": {"batch_size": 100, "n_batches": 30, "scored": 32, "retention": 128, "ability_every": 5,
                              "retention_every": 1, "ppl_tokens": 16384, "ge_cases": 32, "gen_tokens": 40,
                              "edit_overrides": LIGHT_Z}},            # z in float32 on the GPU
            # SmolLM2's d_k is 1536: batches to 2048 pass it and save a third of its z time
            models={"smollm2-135m": {"03": {"n_cases": 2048, "batch_sizes": _batches_to(2048)}}},
            out_subdir="paper"),
]}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise HyperparameterError(f"unknown profile {name!r}; available: {sorted(PROFILES)}")
    return PROFILES[name]
