"""Summaries of per-case scores: means with 95 % intervals per metric and group, the score S
(harmonic mean of ES, PS and NS) with a bootstrap interval, and the tables reported."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics.counterfact import harmonic_mean

SCORE_PARTS = ("ES", "PS", "NS")


# Where each metric lives (×100): an interval is clipped to it (a normal interval of a rate
# near 100 % would otherwise reach past it).
RANGES = {"ES": (0, 100), "PS": (0, 100), "NS": (0, 100), "S": (0, 100),
          "EM": (-100, 100), "PM": (-100, 100), "NM": (-100, 100)}


def _ci(values: np.ndarray, bounds=(-np.inf, np.inf)) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return (np.nan, np.nan)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    return max(values.mean() - half, bounds[0]), min(values.mean() + half, bounds[1])


def _score_ci(wide: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Seeded bootstrap interval of S (harmonic mean of the ES, PS, NS means)."""
    parts = wide[list(SCORE_PARTS)].to_numpy(dtype=float)
    if len(parts) < 2 or np.isnan(parts).all(axis=0).any():
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    stats = [harmonic_mean(*np.nanmean(parts[rng.integers(0, len(parts), len(parts))], axis=0))
             for _ in range(n_boot)]
    return tuple(np.nanpercentile(stats, [2.5, 97.5]))


def summarize(long: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Mean and 95% interval per metric (and per ``by`` group), plus the score S. The
    interval is normal (1.96 standard errors, clipped to the metric's range) for the
    per-case metrics and a seeded bootstrap for S."""
    by = [b for b in (by or []) if b in long.columns]
    rows = []
    groups = long.groupby(by, dropna=False) if by else [((), long)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        base = dict(zip(by, key))
        for metric, m in g.groupby("metric", sort=False):
            v = m["value"].to_numpy(dtype=float)
            lo, hi = _ci(v, RANGES.get(metric, (-np.inf, np.inf)))
            rows.append({**base, "metric": metric, "mean": np.nanmean(v) if (~np.isnan(v)).any() else np.nan,
                         "ci_low": lo, "ci_high": hi, "n": int((~np.isnan(v)).sum())})
        wide = g.pivot_table(index="case_id", columns="metric", values="value", aggfunc="mean")
        if set(SCORE_PARTS) <= set(wide.columns):
            s = harmonic_mean(*[wide[p].mean() for p in SCORE_PARTS])
            lo, hi = _score_ci(wide)
            rows.append({**base, "metric": "S", "mean": s, "ci_low": lo, "ci_high": hi, "n": len(wide)})
    return pd.DataFrame(rows)


def summary_table(long: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Wide table: one row per group, one column per metric mean (the paper's layout)."""
    s = summarize(long, by)
    order = [m for m in ("ES", "PS", "NS", "S", "EM", "PM", "NM", "GE", "RS") if m in set(s.metric)]
    return s.pivot_table(index=by, columns="metric", values="mean", dropna=False)[order].round(1)


def interval_table(long: pd.DataFrame, by: list[str],
                   metrics=("ES", "PS", "NS", "S", "EM", "PM", "NM", "GE")) -> pd.DataFrame:
    """Wide table of "mean [95% interval]" strings (×100), one row per group, and the
    number of cases: what a reported table shows."""
    s = summarize(long, by)
    s = s[s.metric.isin(metrics)]
    cell = s.apply(lambda r: f"{r['mean']:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}]", axis=1)
    wide = s.assign(cell=cell).pivot_table(index=by, columns="metric", values="cell", aggfunc="first")
    wide = wide[[m for m in metrics if m in wide.columns]]
    n = s[s.metric == "S"].set_index(by)["n"] if "S" in set(s.metric) else None
    return wide.assign(n=n) if n is not None else wide
