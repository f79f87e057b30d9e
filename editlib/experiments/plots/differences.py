"""Paired differences A − B with their intervals, resolved or not, one row per comparison."""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .style import LABELS, finish, interval_bars, new_figure, themed


def _row_label(r) -> str:
    where = [f"B={int(r.batch_size)}"] if pd.notna(r.batch_size) else []
    where += [r.scope] if isinstance(r.scope, str) and r.scope else []
    return " · ".join([r.comparison, *where])


@themed
def differences(claims: pd.DataFrame, title: str, metrics=None):
    """Each comparison's paired difference A − B in ``metrics`` (by default S, or ES, and EM)
    with its 95 % interval and a zero line: filled where the difference is resolved
    (:func:`~editlib.evaluation.statistics.verdict`), hollow where not; a refused solve is
    a cross at 0. Rows with one measurement (no interval) are left out. The panels share
    their rows: a comparison sits at the same height in each."""
    c = claims[claims.ci_low.notna() | (claims.verdict == "refused (singular)")]
    present = set(c.metric)
    metrics = [m for m in (metrics or ("S" if "S" in present else "ES", "EM")) if m in present]
    c = c[c.metric.isin(metrics)].assign(label=lambda d: [_row_label(r) for r in d.itertuples()])
    labels = list(dict.fromkeys(c.label))
    height = {label: len(labels) - 1 - i for i, label in enumerate(labels)}
    c = c.assign(y=c.label.map(height),
                 status=np.where(c.verdict.isin(["A > B", "A < B"]), "resolved: interval excludes 0, p < 0.05",
                                 np.where(c.verdict == "refused (singular)", "refused (singular)",
                                          "no difference resolved")))
    fig, axes = new_figure(1, len(metrics), 1.2 + 0.17 * max(len(labels), 3), sharey=True)
    for ax, metric in zip(axes[0], metrics):
        g = c[c.metric == metric]
        shown = g[g.ci_low.notna()]
        interval_bars(ax, shown.y, shown.ci_low, shown.ci_high, horizontal=True, ecolor="black", elinewidth=0.7)
        kinds = (("resolved: interval excludes 0, p < 0.05", dict(color="black", marker="o")),
                 ("no difference resolved", dict(color="white", edgecolor="black", linewidth=0.7, marker="o")),
                 ("refused (singular)", dict(color="black", marker="X")))
        for status, kw in kinds:
            at = g[g.status == status].assign(difference=lambda d: d.difference.fillna(0))
            if len(at):
                sns.scatterplot(data=at, x="difference", y="y", s=14, zorder=3, legend=False, ax=ax, **kw)
        ax.axvline(0, color="0.5", lw=0.7)
        ax.set(xlabel=f"Δ{metric} (×100)" if metric in LABELS else metric, ylabel="")
        if len(metrics) > 2:                                  # narrow panels: few ticks
            ax.xaxis.set_major_locator(MaxNLocator(3))
        spread = pd.concat([g.difference, g.ci_low, g.ci_high]).dropna()
        if len(spread) and spread.min() == spread.max() == 0:  # equal on every case: a readable axis around 0
            ax.set_xlim(-1, 1)
    axes[0, 0].set_yticks(list(height.values()), list(height), fontsize=5.5)
    axes[0, 0].set_ylim(-0.7, len(labels) - 0.3)
    statuses = list(dict.fromkeys(c.status))
    style = {"resolved: interval excludes 0, p < 0.05": dict(marker="o", color="black", ls=""),
             "no difference resolved": dict(marker="o", markerfacecolor="white", color="black", ls=""),
             "refused (singular)": dict(marker="X", color="black", ls="")}
    handles = [Line2D([], [], **style[s]) for s in statuses]
    finish(fig, title, axes, handles, statuses)
    return fig
