"""The paper's findings as paired comparisons, read off a run's per-case tables.

Every comparison pairs two settings scored on the same cases (the same batch size, the same
number of edits) and runs :func:`~editlib.evaluation.statistics.paired_difference`. A row
gives A − B, its 95 % interval, the permutation p-value and the verdict, which follows one
rule (docs/statistics.md). Notebook 04's perplexity and ‖W_t − W_0‖ are one number per
setting, with no cases to pair, so their rows have n = 1 and the verdict "one measurement".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.statistics import RESAMPLES, SEED, paired_difference

FINDINGS = {
    "01_objectives": "single edits: ROME vs MEMIT vs EMMET",
    "02_edit_distribution": "edit distribution: spread vs single layer",
    "03_emmet_batch_size": "EMMET vs MEMIT as the batch grows",
    "04_sequential_editing": "sequential editing: AlphaEdit vs MEMIT/EMMET",
}
METRICS = {"01_objectives": ("S", "ES", "PS", "NS", "EM"), "02_edit_distribution": ("S", "ES", "PS", "NS", "EM"),
           "03_emmet_batch_size": ("S", "EM"), "04_sequential_editing": ("ES", "EM", "NS")}
ONE_MEASUREMENT = "one measurement"


def _present(pairs, settings) -> list[tuple[str, str]]:
    return [(a, b) for a, b in pairs if a in settings and b in settings]


def comparisons(notebook: str, settings: list[str]) -> list[tuple[str, str]]:
    """(A, B) pairs of setting labels a notebook's finding compares, among those it ran."""
    if notebook == "01_objectives":
        return _present([("rome", "memit"), ("emmet", "memit"), ("rome", "emmet"), ("rome_original", "rome")],
                        settings)
    if notebook == "02_edit_distribution":
        methods = dict.fromkeys(s.split(" · ")[0] for s in settings)
        return _present([(f"{m} · spread", f"{m} · single") for m in methods], settings)
    if notebook == "03_emmet_batch_size":
        return _present([("EMMET (μ = 0)", "MEMIT"), ("EMMET (ridge μ)", "MEMIT")], settings)
    if notebook == "04_sequential_editing":
        return _present([("AlphaEdit", "MEMIT"), ("AlphaEdit", "EMMET (ridge μ)"),
                         ("EMMET + preserved edits", "EMMET (ridge μ)")], settings)
    return []


def _row(notebook, table, a, b, metric, result, **extra) -> dict:
    order = {"A > B": ">", "A < B": "<"}.get(result["verdict"])
    reading = f"{a} {order} {b}" if order else result["verdict"]          # the verdict with A and B named
    return {"finding": FINDINGS[notebook], "notebook": notebook, "model": table["model"].iloc[0],
            "profile": table["profile"].iloc[0] if "profile" in table else "", "comparison": f"{a} − {b}",
            "a": a, "b": b, "scope": extra.pop("scope", ""), "batch_size": extra.pop("batch_size", np.nan),
            "metric": metric, **result, "reading": reading, "seed": SEED, "resamples": RESAMPLES, **extra}


def refused_solves(diags: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of a diagnostics or trajectory table whose solve was refused (an ``error``)."""
    if diags is None or "error" not in diags:
        return pd.DataFrame(columns=["setting", "batch_size", "n_edits", "error"])
    return diags[diags["error"].notna()]


def _refused(diags: pd.DataFrame | None, setting: str, batch_size) -> str | None:
    hit = refused_solves(diags)
    hit = hit[(hit.setting == setting) & (hit.batch_size == batch_size)]
    return str(hit.error.iloc[0]) if len(hit) else None


def _batch_claims(notebook, table, diags, a, b) -> list[dict]:
    rows = []
    for size in sorted(table.batch_size.dropna().unique()):
        at = table[table.batch_size == size]
        for metric in METRICS[notebook]:
            refused = _refused(diags, a, size) or _refused(diags, b, size)
            if refused:
                result = {"n": 0, "a_mean": np.nan, "b_mean": np.nan, "difference": np.nan, "ci_low": np.nan,
                          "ci_high": np.nan, "interval": "none", "p_value": np.nan, "verdict": "refused (singular)"}
            else:
                result = paired_difference(at[at.setting == a], at[at.setting == b], metric)
            rows.append(_row(notebook, table, a, b, metric, result, batch_size=int(size)))
    for metric in METRICS[notebook]:          # where the difference first resolves, on every row of the pair
        mine = [r for r in rows if r["metric"] == metric]
        first = next((r["batch_size"] for r in mine if r["verdict"] in ("A > B", "A < B")), np.nan)
        for r in mine:
            r["first_resolved_batch"] = first
    return rows


def _sequential_claims(notebook, table, trajectory, a, b) -> list[dict]:
    rows = []
    last = table.n_edits.max()
    end = table[table.n_edits == last]
    for scope, metrics in (("retention", METRICS[notebook]), ("batch", ("ES",))):
        at = end[end.scope == scope]
        for metric in metrics:
            rows.append(_row(notebook, table, a, b, metric, paired_difference(at[at.setting == a], at[at.setting == b],
                                                                              metric),
                             scope=scope, n_edits=int(last)))
    if trajectory is not None:
        base = trajectory.loc[trajectory.n_edits == 0, "perplexity"].dropna()
        final = trajectory.sort_values("n_edits").groupby("setting").last()
        measures = {"perplexity / unedited": final["perplexity"] / (base.iloc[0] if len(base) else np.nan),
                    "‖W_t − W_0‖": final["weight_drift"]}
        for name, values in measures.items():
            if a in values and b in values:
                va, vb = float(values[a]), float(values[b])
                result = {"n": 1, "a_mean": va, "b_mean": vb, "difference": va - vb, "ci_low": np.nan,
                          "ci_high": np.nan, "interval": "none", "p_value": np.nan, "verdict": ONE_MEASUREMENT}
                rows.append(_row(notebook, table, a, b, name, result, scope="model", n_edits=int(last)))
    return rows


def notebook_claims(notebook: str, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The claims of one notebook run: ``tables`` maps "" (the per-case table) and the side
    tables' suffixes ("_diagnostics", "_trajectory") to their frames."""
    table = tables[""]
    settings = list(dict.fromkeys(table.setting))
    rows = []
    for a, b in comparisons(notebook, settings):
        if notebook == "03_emmet_batch_size":
            rows += _batch_claims(notebook, table, tables.get("_diagnostics"), a, b)
        elif notebook == "04_sequential_editing":
            rows += _sequential_claims(notebook, table, tables.get("_trajectory"), a, b)
        else:
            for metric in METRICS[notebook]:
                rows.append(_row(notebook, table, a, b, metric,
                                 paired_difference(table[table.setting == a], table[table.setting == b], metric)))
    return pd.DataFrame(rows)


def brief(claims: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader wants from :func:`notebook_claims`, rounded, for a notebook's display."""
    cols = [c for c in ("comparison", "scope", "batch_size", "metric", "n", "a_mean", "b_mean", "difference", "ci_low",
                        "ci_high", "p_value", "reading", "first_resolved_batch") if c in claims]
    return claims[cols].dropna(axis=1, how="all").round(3)
