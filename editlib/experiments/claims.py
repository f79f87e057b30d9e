"""The paper's findings as paired comparisons, read off a run's per-case tables.

Every comparison pairs two settings scored on the same cases (the same batch size, the same
number of edits) and runs :func:`~editlib.evaluation.statistics.paired_difference`. A row
gives A − B, its 95 % interval, the permutation p-value and the verdict, which follows one
rule (docs/statistics.md). Which pairs, metrics and scopes a finding compares is each
experiment's to declare (:mod:`editlib.experiments.experiment`); a measure with one number per
setting and no cases to pair (perplexity, ‖W_t − W_0‖) gets n = 1 and the verdict "one
measurement".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.statistics import RESAMPLES, SEED, paired_difference

ONE_MEASUREMENT = "one measurement"


def row(experiment, table, a, b, metric, result, **extra) -> dict:
    """One claims row: the finding, the run's identity, A − B and its verdict read with A and B named."""
    order = {"A > B": ">", "A < B": "<"}.get(result["verdict"])
    reading = f"{a} {order} {b}" if order else result["verdict"]          # the verdict with A and B named
    return {"finding": experiment.finding, "notebook": experiment.name, "model": table["model"].iloc[0],
            "profile": table["profile"].iloc[0] if "profile" in table else "", "comparison": f"{a} − {b}",
            "a": a, "b": b, "scope": extra.pop("scope", ""), "batch_size": extra.pop("batch_size", np.nan),
            "metric": metric, **result, "reading": reading, "seed": SEED, "resamples": RESAMPLES, **extra}


def pair_rows(experiment, table, a: str, b: str, metric: str, **extra) -> dict:
    """A − B on ``metric`` over the cases both settings were scored on, as a claims row."""
    return row(experiment, table, a, b, metric,
               paired_difference(table[table.setting == a], table[table.setting == b], metric), **extra)


def claims_of(experiment, tables: dict[str, pd.DataFrame], pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """The claims of one run: every (A, B) pair of setting labels, as the experiment reads it
    (:meth:`~editlib.experiments.experiment.Experiment.pair_claims`)."""
    rows = []
    for a, b in pairs:
        rows += experiment.pair_claims(tables, a, b)
    return pd.DataFrame(rows)


def refused_solves(diags: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of a diagnostics or trajectory table whose solve was refused (an ``error``)."""
    if diags is None or "error" not in diags:
        return pd.DataFrame(columns=["setting", "batch_size", "n_edits", "error"])
    return diags[diags["error"].notna()]


def brief(claims: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader wants from :func:`claims_of`, rounded, for a notebook's display."""
    cols = [c for c in ("comparison", "scope", "batch_size", "metric", "n", "a_mean", "b_mean", "difference", "ci_low",
                        "ci_high", "p_value", "reading", "first_resolved_batch") if c in claims]
    return claims[cols].dropna(axis=1, how="all").round(3)
