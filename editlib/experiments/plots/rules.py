"""Edit distribution rules (notebook 05): spread − single against the window's size, each
layer's realised share, and the total preservation cost, one colour per rule."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator

from ...evaluation.statistics import interval
from .style import LABELS, MARKERS, finish, interval_bars, new_figure, themed

RULE_ORDER = ["memit", "uniform", "optimal", "optimal_recompute"]
# One colour per rule (none of them a method's: the panels are the methods)
RULE_COLOURS = ["#333333", "#ca9161", "#d55e00", "#a0179b"]

def _look(rules) -> dict:
    ordered = [r for r in RULE_ORDER if r in rules] + sorted(set(rules) - set(RULE_ORDER))
    return {r: {"colour": RULE_COLOURS[k % len(RULE_COLOURS)], "marker": MARKERS[k % len(MARKERS)]}
            for k, r in enumerate(ordered)}


def _handles(look) -> tuple[list, list]:
    return ([Line2D([], [], color=v["colour"], marker=v["marker"]) for v in look.values()],
            [f"rule: {r}" for r in look])


def _each_rule(df: pd.DataFrame, rules) -> pd.DataFrame:
    """The rules' own rows, and the one-layer window's (rule "any": the same edit under every
    rule) once under each rule, so that every rule's line starts from it."""
    one = df[df.rule == "any"]
    return pd.concat([df[~df.rule.isin(["single", "any"])]] + [one.assign(rule=r) for r in rules], ignore_index=True)


def _dodge(x, k: int, n: int, width: float = 0.09):
    return np.asarray(x, dtype=float) + width * (k - (n - 1) / 2)


def _points(ax, g: pd.DataFrame, x: str, look: dict, rule: str, k: int, n: int) -> None:
    g = g.sort_values(x)
    xs = _dodge(g[x], k, n)
    v = look[rule]
    ax.plot(xs, g["mean"], color=v["colour"], marker=v["marker"], lw=0.9)
    interval_bars(ax, xs, g.ci_low, g.ci_high, ecolor=v["colour"], elinewidth=0.7)


@themed
def window_differences(claims: pd.DataFrame, title: str, metrics=("S", "EM")):
    """Spread − single layer (paired, 95 % interval) against the number of layers in the
    window, one line per rule; a one-layer window, where the rules coincide, starts every
    line. ``claims``: the rows spread − single, with A's ``method``, ``rule`` ("any" for
    one layer) and ``window``. Columns: objectives; rows: metrics."""
    c = claims[claims.metric.isin(metrics)]
    rules = [r for r in dict.fromkeys(c.rule) if r != "any"]
    c = _each_rule(c, rules).rename(columns={"difference": "mean"})
    methods, metrics = list(dict.fromkeys(c.method)), [m for m in metrics if m in set(c.metric)]
    look = _look(rules)
    fig, axes = new_figure(len(metrics), len(methods), 0.7 + 1.35 * len(metrics), sharex=True)
    for i, metric in enumerate(metrics):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            for k, rule in enumerate(look):
                g = c[(c.metric == metric) & (c.method == method) & (c.rule == rule)]
                if len(g):
                    _points(ax, g, "window", look, rule, k, len(look))
            ax.axhline(0, color="0.5", lw=0.7)
            ax.set(title=method if i == 0 else "", ylabel=f"Δ{metric}: spread − single" if j == 0 else "",
                   xlabel="layers in the window" if i == len(metrics) - 1 else "")
            ax.set_xticks(sorted(c.window.dropna().unique()))
    finish(fig, title, axes, *_handles(look))
    return fig


def _mean_ci(values: pd.Series, metric: str) -> pd.Series:
    v = values.to_numpy(dtype=float)
    lo, hi, _ = interval(v, metric)
    return pd.Series({"mean": np.nanmean(v), "ci_low": lo, "ci_high": hi})


@themed
def layer_shares(diags: pd.DataFrame, title: str):
    """Each layer's realised share ⟨R0, Δ_l K_l⟩/‖R0‖² in the widest window, per rule (mean and
    95 % interval over cases); the dotted line is the equal share 1/n."""
    d = diags[(diags.window > 1) & diags["share_realised"].notna()]
    d = d[d.window == d.groupby("method").window.transform("max")]
    methods = list(dict.fromkeys(d.method))
    look = _look(list(dict.fromkeys(d.rule)))
    fig, axes = new_figure(1, max(1, len(methods)), 2.2, sharey=True)
    for j, method in enumerate(methods):
        ax = axes[0, j]
        g = d[d.method == method]
        for k, rule in enumerate(look):
            s = g[g.rule == rule].groupby("layer")["share_realised"].apply(_mean_ci, "share").unstack().reset_index()
            if len(s):
                _points(ax, s, "layer", look, rule, k, len(look))
        n = g.window.max()
        ax.axhline(1 / n, color="0.4", lw=0.7, ls=":")
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set(title=method, xlabel="layer", ylabel="share of R0" if j == 0 else "")
        ax.set_xticks(sorted(g.layer.unique()))
    handles, labels = _handles(look)
    finish(fig, title, axes, handles + [Line2D([], [], color="0.4", lw=0.7, ls=":")], labels + ["equal share 1/n"])
    return fig


@themed
def preservation_costs(diags: pd.DataFrame, title: str):
    """Σ_l tr(Δ_l C0_l Δ_lᵀ) per edit against the window's size, per rule (mean, 95 % interval
    over cases, log scale); the dashed line is the single layer's."""
    solved = diags[diags["error"].isna()] if "error" in diags else diags
    per_edit = solved.groupby(["method", "rule", "window", "case_ids"], sort=False, dropna=False)[
        "preservation_cost"].sum().reset_index()
    methods = list(dict.fromkeys(per_edit.method))
    rules = [r for r in dict.fromkeys(per_edit.rule) if r not in ("single", "any")]
    spread = _each_rule(per_edit, rules)
    look = _look(rules)
    fig, axes = new_figure(1, max(1, len(methods)), 2.2)
    for j, method in enumerate(methods):
        ax = axes[0, j]
        for k, rule in enumerate(look):
            g = spread[(spread.method == method) & (spread.rule == rule)]
            s = g.groupby("window")["preservation_cost"].apply(_mean_ci, "cost").unstack().reset_index()
            if len(s):
                _points(ax, s, "window", look, rule, k, len(look))
        ref = per_edit[(per_edit.method == method) & (per_edit.rule == "single")].preservation_cost
        if len(ref):
            ax.axhline(ref.mean(), color="0.3", lw=0.7, ls="--")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ylabel = LABELS.get("cost", "Σ tr(Δ C0 Δᵀ)") if j == 0 else ""
        ax.set(title=method, xlabel="layers in the window", ylabel=ylabel)
        ax.set_xticks(sorted(spread.window.dropna().unique()))
    handles, labels = _handles(look)
    finish(fig, title, axes, handles + [Line2D([], [], color="0.3", lw=0.7, ls="--")], labels + ["single layer"])
    return fig
