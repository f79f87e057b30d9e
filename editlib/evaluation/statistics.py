"""Intervals and paired comparisons of per-case scores (docs/statistics.md).

Which interval each summary gets (95 %, every resampling seeded):

- **Wilson** score interval when each case's value is 0 or 100 (ES of a single edit, or any
  rate whose cases are all-or-nothing): the binomial proportion of n cases
  (``scipy.stats.binomtest(...).proportion_ci("wilson")``).
- **BCa bootstrap** of the mean over cases for every other per-case value (PS and NS, means
  over several prompts; the magnitudes EM, PM, NM; GE), and for S, the harmonic mean of the
  ES, PS and NS means, with each case's three values resampled together
  (``scipy.stats.bootstrap``, method "BCa").
- A sample with no spread cannot be resampled. A rate that is 0 or 100 on every case gets the
  Wilson interval of n cases at that edge. Any other constant sample gets [c, c], marked
  "constant".

A paired comparison of settings A and B scored on the same cases gives the mean of A minus
the mean of B (S(A) − S(B) for S). Its interval is a BCa bootstrap over cases, which
resamples each case's A and B values together. Its p-value comes from a two-sided sign-flip
permutation test (``scipy.stats.permutation_test``, ``permutation_type="samples"``): within a
case, A and B are exchangeable under the null hypothesis. A finding makes several such
comparisons, so its p-values are adjusted together by Holm's step-down method (:func:`holm`;
the families are :mod:`editlib.experiments.claims`'s). The verdict asks for both: the
interval excludes 0 and the adjusted p < 0.05 (:func:`verdict`).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..base.errors import DatasetError
from .metrics.counterfact import harmonic_mean

SCORE_PARTS = ("ES", "PS", "NS")
RATES = {"ES", "PS", "NS", "S", "disabling"}     # 0..100 (disabling: the share of edits a rule flags)
CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE                          # the permutation test's level, for the verdict
RESAMPLES = 9999
SEED = 0


class UnpairedError(DatasetError):
    """Two settings compared case by case were not scored on the same cases."""


# ------------------------------------------------------------------ one setting

def wilson(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score interval of a proportion, ×100."""
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(CONFIDENCE, method="wilson")
    return 100 * ci.low, 100 * ci.high


def _bootstrap(statistic, n: int, seed: int, resamples: int = RESAMPLES) -> tuple[float, float, str]:
    """A BCa interval of ``statistic(idx)`` over resampled case indices ``idx`` (vectorised:
    ``idx`` has the cases on its last axis); the percentile interval where BCa is undefined."""
    idx = np.arange(n)
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # scipy warns where BCa degenerates; the percentile one follows
            res = stats.bootstrap((idx,), lambda i, axis=-1: statistic(i), vectorized=True, n_resamples=resamples,
                                  confidence_level=CONFIDENCE, method=method, rng=np.random.default_rng(seed),
                                  batch=500)
        lo, hi = res.confidence_interval
        if np.isfinite(lo) and np.isfinite(hi):
            return float(lo), float(hi), method.lower()
    return np.nan, np.nan, "none"


def interval(values, metric: str, seed: int = SEED) -> tuple[float, float, str]:
    """(low, high, method) of the mean of one metric's per-case ``values`` (NaN dropped)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = len(v)
    if n < 2:
        return np.nan, np.nan, "none"
    if metric in RATES and np.isin(v, (0.0, 100.0)).all():
        return (*wilson(int((v == 100.0).sum()), n), "wilson")
    if np.ptp(v) == 0:
        return float(v[0]), float(v[0]), "constant"
    return _bootstrap(lambda i: v[i].mean(axis=-1), n, seed)


def _score(parts: np.ndarray, idx) -> np.ndarray:
    """S of the cases ``idx`` (any leading axes): harmonic mean of the three column means."""
    means = np.nanmean(parts[idx], axis=-2)                       # (..., 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = 3 / (1 / means).sum(axis=-1)
    return np.where((means <= 0).any(axis=-1), 0.0, s)


def score_interval(parts: np.ndarray, seed: int = SEED) -> tuple[float, float, str]:
    """(low, high, method) of S from per-case (ES, PS, NS) rows."""
    n = len(parts)
    if n < 2 or np.isnan(parts).all(axis=0).any():
        return np.nan, np.nan, "none"
    if np.isin(parts, (0.0, 100.0)).all() and (parts == parts[0]).all():
        edge = parts[0, 0]                                        # every part of every case at one edge
        return (*wilson(n if edge == 100 else 0, n), "wilson")
    if (parts == parts[0]).all():
        s = float(_score(parts, np.arange(n)))
        return s, s, "constant"
    return _bootstrap(lambda i: _score(parts, i), n, seed)


def summarize(long: pd.DataFrame, by: list[str] | None = None, seed: int = SEED) -> pd.DataFrame:
    """Mean, 95 % interval, its method and n per metric (and per ``by`` group), plus S."""
    by = [b for b in (by or []) if b in long.columns]
    rows = []
    groups = long.groupby(by, dropna=False, sort=False) if by else [((), long)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        base = dict(zip(by, key))
        for metric, m in g.groupby("metric", sort=False):
            v = m["value"].to_numpy(dtype=float)
            ok = ~np.isnan(v)
            lo, hi, how = interval(v, metric, seed)
            rows.append({**base, "metric": metric, "mean": v[ok].mean() if ok.any() else np.nan,
                         "ci_low": lo, "ci_high": hi, "interval": how, "n": int(ok.sum())})
        wide = g.pivot_table(index="case_id", columns="metric", values="value", aggfunc="mean")
        if set(SCORE_PARTS) <= set(wide.columns):
            parts = wide[list(SCORE_PARTS)].to_numpy(dtype=float)
            s = harmonic_mean(*np.nanmean(parts, axis=0))
            lo, hi, how = score_interval(parts, seed)
            rows.append({**base, "metric": "S", "mean": s, "ci_low": lo, "ci_high": hi, "interval": how,
                         "n": len(wide)})
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


# ------------------------------------------------------------------ two settings, the same cases

def _paired_values(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-case values (cases × parts) of ``metric`` (S: its three parts) in A and B, aligned
    on case ids. Refuses A and B whose case ids differ, or a metric either lacks; a part
    missing (NaN) on either side is left out on both, a case with no part left is dropped."""
    parts = list(SCORE_PARTS) if metric == "S" else [metric]
    wide = []
    for name, t in (("A", a), ("B", b)):
        absent = [m for m in parts if m not in set(t.metric)]
        if absent:
            raise UnpairedError(f"{metric}: setting {name} has no {'/'.join(absent)} values; its metrics are "
                                f"{sorted(set(t.metric))}")
        t = t[t.metric.isin(parts)]
        if t.duplicated(["case_id", "metric"]).any():
            raise UnpairedError(f"setting {name} has more than one {'/'.join(parts)} value for a case: "
                                "compare one setting (and batch size) at a time")
        wide.append(t.pivot(index="case_id", columns="metric", values="value").reindex(columns=parts))
    only_a, only_b = wide[0].index.difference(wide[1].index), wide[1].index.difference(wide[0].index)
    if len(only_a) or len(only_b):
        raise UnpairedError(f"{metric}: A and B were not scored on the same cases ({len(only_a)} case ids only in "
                            f"A, e.g. {list(only_a[:3])}; {len(only_b)} only in B, e.g. {list(only_b[:3])})")
    ids = wide[0].index
    x, y = wide[0].loc[ids].to_numpy(float, copy=True), wide[1].loc[ids].to_numpy(float, copy=True)
    missing = np.isnan(x) | np.isnan(y)           # a part missing on either side is left out of both:
    x[missing] = y[missing] = np.nan              # each part's means come from the same cases in A and B
    keep = ~missing.all(axis=1)
    return x[keep], y[keep]


def _statistic(metric: str):
    """(per-case values of :func:`_paired_values`, case indices) -> the metric over those cases:
    S the harmonic mean of the three parts' means, any other metric its mean."""
    if metric == "S":
        return _score
    return lambda arr, i: np.nanmean(arr[i][..., 0], axis=-1)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str, seed: int = SEED,
                      resamples: int = RESAMPLES) -> dict:
    """A − B on the cases both were scored on (long tables: case_id, metric, value): n, the
    two means, the difference, its paired BCa interval, the sign-flip permutation p-value and
    the verdict (:func:`verdict`). S compares the harmonic means of ES, PS and NS."""
    x, y = _paired_values(a, b, metric)
    n = len(x)
    stat = _statistic(metric)
    whole = np.arange(n)
    mean_a, mean_b = (float(stat(x, whole)), float(stat(y, whole))) if n else (np.nan, np.nan)
    out = {"n": n, "a_mean": mean_a, "b_mean": mean_b, "difference": mean_a - mean_b,
           "ci_low": np.nan, "ci_high": np.nan, "interval": "none", "p_value": np.nan}
    if n >= 2:
        d = x - y
        if np.nan_to_num(d).any():
            lo, hi, how = _bootstrap(lambda i: stat(x, i) - stat(y, i), n, seed, resamples)
            stacked = np.concatenate([x, y])                                  # case i of A, then of B at n + i
            p = stats.permutation_test((whole, whole + n), lambda i, j, axis=-1: stat(stacked, i) - stat(stacked, j),
                                       permutation_type="samples", vectorized=True, n_resamples=resamples,
                                       alternative="two-sided", rng=np.random.default_rng(seed)).pvalue
            out.update(ci_low=lo, ci_high=hi, interval=how, p_value=float(p))
        else:
            out.update(ci_low=0.0, ci_high=0.0, interval="constant", p_value=1.0)
    out["verdict"] = verdict(out)
    return out


def difference_of_differences(a1: pd.DataFrame, b1: pd.DataFrame, a2: pd.DataFrame, b2: pd.DataFrame,
                              metric: str, seed: int = SEED, resamples: int = RESAMPLES) -> dict:
    """(A − B on sample 1) − (A − B on sample 2), where each sample pairs A and B over its own
    cases and the two samples are independent (two models, each with its own cases). S
    compares harmonic means as :func:`paired_difference` does.

    The interval is a BCa bootstrap that resamples each sample's cases on their own (each
    case's A and B values together; ``scipy.stats.bootstrap`` with two samples, not paired);
    the p-value is the bootstrap's two-sided one, twice the share of resampled differences on
    the far side of 0 (at least 1/(resamples + 1)). ``n`` is n1 + n2 (``n_a``: n1, ``n_b``: n2);
    ``a_mean`` and ``b_mean`` are each sample's A − B."""
    x1, y1 = _paired_values(a1, b1, metric)
    x2, y2 = _paired_values(a2, b2, metric)
    n1, n2 = len(x1), len(x2)
    stat = _statistic(metric)

    def effect(x, y, i):
        return stat(x, i) - stat(y, i)

    d1 = float(effect(x1, y1, np.arange(n1))) if n1 else np.nan
    d2 = float(effect(x2, y2, np.arange(n2))) if n2 else np.nan
    out = {"n": n1 + n2, "n_a": n1, "n_b": n2, "a_mean": d1, "b_mean": d2, "difference": d1 - d2,
           "ci_low": np.nan, "ci_high": np.nan, "interval": "none", "p_value": np.nan}
    if n1 >= 2 and n2 >= 2:
        both = lambda i, j, axis=-1: effect(x1, y1, i) - effect(x2, y2, j)     # noqa: E731
        lo = hi = np.nan
        for method in ("BCa", "percentile"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = stats.bootstrap((np.arange(n1), np.arange(n2)), both, paired=False, vectorized=True,
                                      n_resamples=resamples, confidence_level=CONFIDENCE, method=method,
                                      rng=np.random.default_rng(seed), batch=500)
            lo, hi = res.confidence_interval
            if np.isfinite(lo) and np.isfinite(hi):
                break
        dist = res.bootstrap_distribution
        if np.isfinite(lo) and np.isfinite(hi) and np.ptp(dist) > 0:
            far = min((dist <= 0).mean(), (dist >= 0).mean())
            out.update(ci_low=float(lo), ci_high=float(hi), interval=method.lower(),
                       p_value=float(min(1.0, max(2 * far, 1 / (resamples + 1)))))
        elif np.ptp(dist) == 0:
            out.update(ci_low=float(dist.flat[0]), ci_high=float(dist.flat[0]), interval="constant",
                       p_value=1.0 if dist.flat[0] == 0 else np.nan)
    out["verdict"] = verdict(out)
    return out


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of m p-values: the i-th smallest becomes
    max over j ≤ i of min(1, (m − j + 1) p_(j)). Rejecting where the adjusted p < α keeps the
    chance of any false rejection in the family below α, whatever the dependence between the
    tests. NaN (no test) stays NaN and does not count in m."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    if m:
        order = finite[np.argsort(p[finite], kind="stable")]
        scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
        out[order] = np.maximum.accumulate(scaled)
    return out


VERDICTS = ("A > B", "A < B", "no difference resolved", "equal on every case", "too few cases")


def verdict(row: dict) -> str:
    """The one rule every claim is read by:

    - "too few cases" when n < 2 (no interval);
    - "equal on every case" when A − B is 0 on every case;
    - "A > B" when the 95 % interval of A − B lies above 0 and the permutation test gives
      p < 0.05, "A < B" when the interval lies below 0 and p < 0.05; p is the family's
      Holm-adjusted ``p_adjusted`` where the row has one (:func:`holm`), else the raw p;
    - "no difference resolved" otherwise.

    Both are asked for because they can disagree where only a few cases differ: a bootstrap
    of a handful of discordant cases undercovers (6 cases for A and 1 for B out of 200: BCa
    [0.5, 5.5], while the exact sign-flip p is 0.125).
    """
    if row["n"] < 2 or not np.isfinite(row["ci_low"]):
        return "too few cases"
    if row["interval"] == "constant" and row["difference"] == 0:
        return "equal on every case"
    p = row.get("p_adjusted", row.get("p_value", np.nan))
    significant = bool(np.isfinite(p)) and p < ALPHA
    if row["ci_low"] > 0 and significant:
        return "A > B"
    if row["ci_high"] < 0 and significant:
        return "A < B"
    return "no difference resolved"
