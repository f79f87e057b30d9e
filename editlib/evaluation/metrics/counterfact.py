"""CounterFact metrics as the ROME/MEMIT papers compute them.

Every prompt is scored by teacher forcing (:func:`~editlib.evaluation.metrics.scoring.target_nll`):
the mean per-token NLL of " " + target after the prompt. Per case:

- ES  efficacy score      [NLL(true) > NLL(new)] on the rewrite prompt
- PS  paraphrase score    the same, averaged over paraphrase prompts
- NS  neighborhood score  [NLL(true) < NLL(new)] averaged over neighbourhood prompts
- EM, PM                  P(new) − P(true), P = exp(−NLL), on rewrite / paraphrase prompts
- NM                      P(true) − P(new) on neighbourhood prompts

All are reported ×100. The overall score S is the harmonic mean of ES, PS and NS.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .scoring import target_nll

PROBE_METRICS = ("ES", "PS", "NS", "EM", "PM", "NM")


def _pairs(cases):
    """All (case index, kind, prompt) triples to score with both targets."""
    out = []
    for ci, c in enumerate(cases):
        rr = c["requested_rewrite"]
        out.append((ci, "rewrite", rr["prompt"].format(rr["subject"])))
        out += [(ci, "paraphrase", p) for p in c.get("paraphrase_prompts", [])]
        out += [(ci, "neighborhood", p) for p in c.get("neighborhood_prompts", [])]
    return out


def probe_scores(model, tok, cases: list[dict], max_tokens: int = 4096) -> pd.DataFrame:
    """One row per case: case_id and ES, PS, NS, EM, PM, NM (×100; NaN where a case has
    no prompt of that kind)."""
    pairs = _pairs(cases)
    prompts = [p for _, _, p in pairs] * 2
    new = [cases[ci]["requested_rewrite"]["target_new"]["str"] for ci, _, _ in pairs]
    true = [cases[ci]["requested_rewrite"]["target_true"]["str"] for ci, _, _ in pairs]
    nll = target_nll(model, tok, prompts, new + true, max_tokens=max_tokens)
    nll_new, nll_true = nll[: len(pairs)], nll[len(pairs):]
    df = pd.DataFrame({"case": [ci for ci, _, _ in pairs], "kind": [k for _, k, _ in pairs],
                       "nll_new": nll_new, "nll_true": nll_true})
    df["new_wins"] = (df.nll_true > df.nll_new).astype(float)
    df["true_wins"] = (df.nll_true < df.nll_new).astype(float)
    df["p_diff"] = np.exp(-df.nll_new) - np.exp(-df.nll_true)
    g = df.groupby(["case", "kind"]).mean(numeric_only=True)

    def col(kind, field, sign=1.0):
        try:
            s = g.xs(kind, level="kind")[field] * sign
        except KeyError:
            s = pd.Series(dtype=float)
        return s.reindex(range(len(cases))) * 100

    out = pd.DataFrame({
        "case_id": [c.get("case_id", i) for i, c in enumerate(cases)],
        "ES": col("rewrite", "new_wins"), "PS": col("paraphrase", "new_wins"),
        "NS": col("neighborhood", "true_wins"), "EM": col("rewrite", "p_diff"),
        "PM": col("paraphrase", "p_diff"), "NM": col("neighborhood", "p_diff", -1.0),
    })
    return out.reset_index(drop=True)


def harmonic_mean(*xs: float) -> float:
    xs = np.asarray(xs, dtype=float)
    if np.isnan(xs).any():
        return float("nan")
    if (xs <= 0).any():
        return 0.0
    return float(len(xs) / np.sum(1.0 / xs))
