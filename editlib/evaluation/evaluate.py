"""Evaluation: the CounterFact metrics for a list of cases, pre- or post-edit, as a
long-format DataFrame (one row per case and metric, with the run's parameters). Its
summaries and intervals are :mod:`editlib.evaluation.statistics`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data.counterfact import check_cases
from .metrics.counterfact import PROBE_METRICS, probe_scores
from .metrics.generation import generate, generation_entropy


def _generation_prompts(case: dict) -> list[str]:
    if case.get("generation_prompts"):
        return case["generation_prompts"]
    rr = case["requested_rewrite"]    # no generation prompts: use rewrite + paraphrases
    return [rr["prompt"].format(rr["subject"])] + case.get("paraphrase_prompts", [])[:2]


def generation_scores(model, tok, cases: list[dict], gen_tokens: int = 100, seed: int = 0,
                      prompts_per_call: int = 96) -> list[float]:
    """GE per case (×100): the mean n-gram entropy of seeded samples from its generation
    prompts. The prompts of consecutive cases are sampled together, up to
    ``prompts_per_call`` at a time (decoding costs per step, not per prompt)."""
    prompts = [_generation_prompts(c) for c in cases]
    flat = [p for ps in prompts for p in ps]
    texts = []
    for i in range(0, len(flat), prompts_per_call):
        texts += generate(model, tok, flat[i:i + prompts_per_call], max_new_tokens=gen_tokens, seed=seed)
    out, i = [], 0
    for ps in prompts:
        out.append(100 * float(np.mean([generation_entropy(t) for t in texts[i:i + len(ps)]])))
        i += len(ps)
    return out


def evaluate(model, tok, cases: list[dict], generation: bool | int = False, gen_tokens: int = 100,
             seed: int = 0, params: dict | None = None, max_tokens: int = 4096) -> pd.DataFrame:
    """Columns: case_id, metric, value, then one column per entry of ``params``. Cases are
    checked first (:func:`~editlib.evaluation.data.counterfact.check_case`): a missing or empty
    target, or one equal to the other, is an error, never a score. ``generation``: True
    for GE on every case, a number n for GE on the first n cases only (the others NaN)."""
    check_cases(cases)
    wide = probe_scores(model, tok, cases, max_tokens=max_tokens)
    n_ge = len(cases) if generation is True else max(0, min(int(generation), len(cases)))
    if n_ge:
        wide["GE"] = generation_scores(model, tok, cases[:n_ge], gen_tokens, seed) + [np.nan] * (len(cases) - n_ge)
    wide["RS"] = np.nan      # needs CounterFact's attribute snippets and IDF files: missing
    long = wide.melt(id_vars="case_id", var_name="metric", value_name="value")
    for k, v in (params or {}).items():
        long[k] = v if not isinstance(v, (list, tuple)) else str(list(v))
    return long


__all__ = ["evaluate", "generation_scores", "PROBE_METRICS"]
