"""The paper's findings as paired comparisons, read off a run's per-case tables.

Every comparison pairs two settings scored on the same cases (the same batch size, the same
number of edits) and runs :func:`~editlib.evaluation.statistics.paired_difference`. A row
gives A − B, its 95 % interval, the permutation p-value and the verdict, which follows one
rule (docs/statistics.md). Which pairs, metrics and scopes a finding compares is each
experiment's to declare (:mod:`editlib.experiments.experiment`); a measure with one number per
setting and no cases to pair (perplexity, ‖W_t − W_0‖) gets n = 1 and the verdict "one
measurement".

A run's comparisons on one metric are one family (:data:`FAMILY`): their p-values are
adjusted together by Holm's method (``p_adjusted``, beside the raw ``p_value``), and the
verdict is read from the adjusted p (:func:`adjusted`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.statistics import RESAMPLES, SEED, holm, paired_difference, verdict

ONE_MEASUREMENT = "one measurement"
# the comparisons whose p-values are adjusted together: one finding, on one model and
# profile, one metric (S, EM, ... each answer their own question)
FAMILY = ("notebook", "model", "profile", "metric")


def reading(a: str, b: str, said: str) -> str:
    """The verdict with A and B named."""
    order = {"A > B": ">", "A < B": "<"}.get(said)
    return f"{a} {order} {b}" if order else said


def row(experiment, table, a, b, metric, result, **extra) -> dict:
    """One claims row: the finding, the run's identity, A − B and its verdict read with A and B named."""
    return {"finding": experiment.finding, "notebook": experiment.name, "model": table["model"].iloc[0],
            "profile": table["profile"].iloc[0] if "profile" in table else "", "comparison": f"{a} − {b}",
            "a": a, "b": b, "scope": extra.pop("scope", ""), "batch_size": extra.pop("batch_size", np.nan),
            "metric": metric, **result, "reading": reading(a, b, result["verdict"]), "seed": SEED,
            "resamples": RESAMPLES, **extra}


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
    return experiment.after_adjusting(adjusted(pd.DataFrame(rows)))


def adjusted(claims: pd.DataFrame) -> pd.DataFrame:
    """Each family's p-values Holm-adjusted (``p_adjusted``), and the verdicts of the rows
    with a test read again from them; rows without a test (refused, one measurement, too
    few cases) keep theirs."""
    if not len(claims) or "p_value" not in claims:
        return claims
    claims = claims.copy()
    claims["p_adjusted"] = np.nan
    for _, family in claims.groupby(list(FAMILY), sort=False, dropna=False):
        claims.loc[family.index, "p_adjusted"] = holm(family.p_value.to_numpy(float))
    tested = claims.p_value.notna() & claims.verdict.isin(["A > B", "A < B", "no difference resolved"])
    for i in claims.index[tested]:
        said = verdict(claims.loc[i].to_dict())
        claims.loc[i, ["verdict", "reading"]] = [said, reading(claims.at[i, "a"], claims.at[i, "b"], said)]
    cols = list(claims.columns)
    cols.insert(cols.index("p_value") + 1, cols.pop(cols.index("p_adjusted")))
    return claims[cols]


def refused_solves(diags: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of a diagnostics or trajectory table whose solve was refused (an ``error``)."""
    if diags is None or "error" not in diags:
        return pd.DataFrame(columns=["setting", "batch_size", "n_edits", "error"])
    return diags[diags["error"].notna()]


def brief(claims: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader wants from :func:`claims_of`, rounded, for a notebook's display."""
    cols = [c for c in ("comparison", "scope", "batch_size", "metric", "n", "a_mean", "b_mean", "difference", "ci_low",
                        "ci_high", "p_value", "p_adjusted", "reading", "first_resolved_batch") if c in claims]
    return claims[cols].dropna(axis=1, how="all").round(3)
