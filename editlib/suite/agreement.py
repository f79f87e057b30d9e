"""When two runs of the suite give the same results.

Two runs of the same notebooks with the same parameters and seeds compute the same
things, but not always in the same order: torch sums float32 reductions in an order that
depends on its thread count (a serial kernel on 2 threads, a Dask worker's on 1), and
these rounding differences pass through z's optimisation into every number. What must
match exactly, and what may differ by rounding:

- **exact**: the tables' identity columns (case ids, settings, methods, layers,
  hyperparameters, batch sizes, ...), the decisions (ES, PS and NS per case: which of two
  targets is more probable) and the refused solves (the ``error`` column);
- **to rounding**: every other number (the magnitudes EM/PM/NM, GE, perplexity, the
  diagnostics), within ``rtol`` relative to the larger value and ``atol`` absolute;
- **ignored**: the clock (``*_s`` columns) and what records where and how a run ran
  (:mod:`editlib.experiments.provenance` columns: hardware, threads, versions, commit).

``verification/thread_agreement.py`` measures the rounding differences between 1 and 2
threads; :data:`RTOL` and :data:`ATOL` are set from that measurement with a margin.

**Across machines** (another CPU, a GPU) the same code also runs other kernels, and where
``compute_dtype="auto"`` is set (notebook 04) may compute z in another precision
(``z_dtype``). Single cases can then move far: z stops early once its loss is below 0.05,
and a step more or less changes what is written, which sequential editing carries into
every later edit. What is expected to hold, and :func:`across_machines` checks:

- **exact**: the identity columns;
- **the same, reported where not**: every claim's verdict (``claims.csv``); a verdict whose
  adjusted p lies near 0.05 (the quick profile's 8-case rows) can change;
- **within each other's intervals**: each setting's mean of each metric (per batch size,
  edit count and scope) lies inside the other folder's 95 % interval of that mean, over
  the same cases: the aggregates agree within their stated uncertainty.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..experiments.experiment import Experiment

DECISIONS = ("ES", "PS", "NS")             # per-case outcomes of probability comparisons
RUN_COLUMNS = ("profile", "split", "hardware", "device", "dtype", "z_dtype", "editlib_version", "torch_version",
               "transformers_version", "git_commit", "git_dirty", "threads")
RTOL = 1e-3
ATOL = 1e-5


def _ignored(column: str) -> bool:
    return column.endswith("_s") or column in RUN_COLUMNS


def _numeric(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if not _ignored(c) and pd.api.types.is_float_dtype(df[c])]


def _split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(identity and decisions, rounding-sensitive numbers) of one table."""
    num = _numeric(df)
    exact = df[[c for c in df.columns if not _ignored(c) and c not in num]]
    values = df[num]
    if "metric" in df and "value" in df:          # long-format scores: the decisions are exact
        decision = df["metric"].isin(DECISIONS)
        exact = exact.assign(decision=df["value"].where(decision))
        values = values.assign(value=df["value"].where(~decision))
    return exact, values


def differences(a: pd.DataFrame, b: pd.DataFrame, name: str = "table") -> pd.DataFrame:
    """Per numeric column (per metric in a long-format score table) of two versions of one
    table: the largest absolute and relative difference and the number of entries that
    differ beyond :data:`RTOL`/:data:`ATOL`. Raises ``AssertionError`` when the tables'
    shapes, identity columns or decisions differ."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        raise AssertionError(f"{name}: different columns or lengths ({a.shape} vs {b.shape})")
    exact_a, values_a = _split(a)
    exact_b, values_b = _split(b)
    pd.testing.assert_frame_equal(exact_a.reset_index(drop=True), exact_b.reset_index(drop=True),
                                  check_exact=True, obj=f"{name} (identity columns and decisions)")
    groups = a["metric"] if "metric" in a and "value" in a else pd.Series("", index=a.index)
    rows = []
    for col in values_a.columns:
        x, y = values_a[col].to_numpy(float), values_b[col].to_numpy(float)
        both_nan = np.isnan(x) & np.isnan(y)
        if (np.isnan(x) != np.isnan(y)).any():
            raise AssertionError(f"{name}: column {col!r} is missing (NaN) in one table only")
        for group in pd.unique(groups) if col == "value" else [""]:
            keep = ~both_nan & ((groups == group).to_numpy() if col == "value" else True)
            if not keep.any():
                continue
            d = np.abs(x[keep] - y[keep])
            scale = np.maximum(np.abs(x[keep]), np.abs(y[keep]))
            rel = np.divide(d, scale, out=np.zeros_like(d), where=scale > 0)
            rows.append({"table": name, "column": col, "metric": group, "n": int(keep.sum()),
                         "max_abs_diff": float(d.max()), "max_rel_diff": float(rel.max()),
                         "beyond_tolerance": int((d > ATOL + RTOL * scale).sum())})
    return pd.DataFrame(rows)


def compare_runs(a_dir, b_dir) -> pd.DataFrame:
    """:func:`differences` for every table (CSV) of two output folders, which must hold
    the same tables."""
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    names_a = sorted(p.name for p in a_dir.glob("*.csv"))
    names_b = sorted(p.name for p in b_dir.glob("*.csv"))
    if names_a != names_b:
        raise AssertionError(f"different tables: {sorted(set(names_a) ^ set(names_b))}")
    return pd.concat([differences(pd.read_csv(a_dir / n), pd.read_csv(b_dir / n), n) for n in names_a],
                     ignore_index=True)


def assert_same_results(a_dir, b_dir) -> pd.DataFrame:
    """Raise ``AssertionError`` unless two output folders agree as the module docstring
    says; returns the differences (:func:`compare_runs`)."""
    diffs = compare_runs(a_dir, b_dir)
    bad = diffs[diffs.beyond_tolerance > 0]
    if len(bad):
        raise AssertionError(f"differences beyond rounding (rtol {RTOL:g}, atol {ATOL:g}):\n{bad.to_string()}")
    return diffs


# ------------------------------------------------------------------ across machines

GROUPS = ("setting", *Experiment.GROUP_COLUMNS)
MACHINE_METRICS = ("ES", "PS", "NS", "S", "EM", "PM", "NM")
CLAIM_KEY = ("notebook", "model", "profile", "comparison", "scope", "batch_size", "metric")


def _per_case_tables(folder: Path) -> dict[str, pd.DataFrame]:
    from .report import REPORTED, tables

    return {name: pd.read_csv(path) for e in REPORTED for name, path in tables(folder, e.name)}


def _run_means(name: str, a: pd.DataFrame, b: pd.DataFrame) -> list[dict]:
    from ..evaluation.statistics import summarize

    groups = [g for g in GROUPS if g in a]
    rows = []
    for key, ga in a.groupby(groups, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        mask = np.ones(len(b), bool)
        for g, k in zip(groups, key):
            mask &= (b[g].isna() if pd.isna(k) else b[g] == k).to_numpy()
        if sorted(ga.case_id.unique()) != sorted(b[mask].case_id.unique()):
            raise AssertionError(f"{name}, {dict(zip(groups, key))}: the folders scored other cases")
        sa, sb = (summarize(t[["case_id", "metric", "value"]]).set_index("metric") for t in (ga, b[mask]))
        for metric in [m for m in MACHINE_METRICS if m in sa.index and np.isfinite(sa.loc[m, "mean"])]:
            x, y = sa.loc[metric], sb.loc[metric]
            rows.append({"table": name, **dict(zip(groups, key)), "metric": metric, "n": int(x["n"]),
                         "a_mean": x["mean"], "a_ci": (x.ci_low, x.ci_high), "b_mean": y["mean"],
                         "b_ci": (y.ci_low, y.ci_high), "difference": x["mean"] - y["mean"],
                         "moved": not (x.ci_low <= y["mean"] <= x.ci_high and y.ci_low <= x["mean"] <= y.ci_high)})
    return rows


def across_machines(a_dir, b_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two figure folders of the same code and parameters made on different machines:
    (means, verdicts). ``means``: per table, setting group and metric, each folder's mean
    with its 95 % interval and whether either mean lies outside the other's interval
    (``moved``); ``verdicts``:
    every claim of ``claims.csv`` in both, and whether its verdict is the same. Raises
    ``AssertionError`` when the folders do not hold the same tables, cases or claims."""
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    ta, tb = _per_case_tables(a_dir), _per_case_tables(b_dir)
    if set(ta) != set(tb):
        raise AssertionError(f"different per-case tables: {sorted(set(ta) ^ set(tb))}")
    means = pd.DataFrame([r for name in sorted(ta) for r in _run_means(name, ta[name], tb[name])])
    ca, cb = pd.read_csv(a_dir / "claims.csv"), pd.read_csv(b_dir / "claims.csv")
    key = [k for k in CLAIM_KEY if k in ca]
    merged = ca.merge(cb, on=key, how="outer", suffixes=("_a", "_b"), indicator=True)
    if (merged._merge != "both").any():
        raise AssertionError(f"claims in one folder only: {merged[merged._merge != 'both'][key].to_string()}")
    verdicts = merged[key + ["verdict_a", "verdict_b"]].assign(same=merged.verdict_a == merged.verdict_b)
    return means, verdicts
