"""Independent single edits: how large each update was against what it did to the model."""
from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .style import MARKERS, colours_of, finish, new_figure, palette, themed


def _per_edit(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, case): ΔW %, GE as a percentage of the unedited model's on the
    same prompts (``GE %``), perplexity % and the flag."""
    wide = metrics.pivot_table(index=["setting", "case_id"], columns="metric", values="value").reset_index()
    ge0 = wide[wide.setting == "unedited"].set_index("case_id")["GE"]
    edits = wide[wide.setting != "unedited"].copy()
    edits["GE %"] = 100 * edits["GE"] / edits.case_id.map(ge0)
    return edits


def _log_ticks(axis, low: float, high: float) -> None:
    """Labelled ticks on a log axis: 1, 2, 5 × 10ᵏ within a decade and a half, decades only
    beyond (matplotlib's automatic count leaves a small panel spanning three decades with none)."""
    subs = (1, 2, 5) if high / low <= 10 ** 1.5 else (1,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


@themed
def disabling_scatter(metrics: pd.DataFrame, perplexity_factor: float, ge_fraction: float, title: str, order=None):
    """Per edit (points, seaborn), against ‖ΔW‖_F/‖W‖_F (%, log): (a) GE after the edit as a
    percentage of the unedited model's on the same prompts, (b) held-out perplexity as a
    percentage of the unedited model's (log). The dashed lines are the disabling rule's
    thresholds; the edits it flags are ringed in black."""
    look = palette(metrics, order)
    edits = _per_edit(metrics)
    present = [k for k in look if k in set(edits.setting)]
    for i, k in enumerate(present):              # two settings of one method share a hue: not a marker
        look[k] = {**look[k], "marker": MARKERS[i % len(MARKERS)]}
    fig, axes = new_figure(1, 2, 2.5, sharex=True)
    panels = (("GE %", "GE, % of unedited (same prompts)", 100 * ge_fraction, False),
              ("perplexity %", "perplexity, % of unedited", 100 * perplexity_factor, True))
    for ax, (col, ylabel, threshold, log) in zip(axes[0], panels):
        sns.scatterplot(data=edits, x="ΔW %", y=col, hue="setting", style="setting", hue_order=present,
                        style_order=present, palette=colours_of(look), markers={k: look[k]["marker"] for k in present},
                        s=9, linewidth=0, alpha=0.7, legend=False, ax=ax)
        flagged = edits[edits.disabling > 0]
        if len(flagged):
            ax.scatter(flagged["ΔW %"], flagged[col], s=28, facecolors="none", edgecolors="black",
                       linewidths=0.6)
        ax.axhline(threshold, color="0.4", ls="--", lw=0.8)
        ax.set(xscale="log", yscale="log" if log else "linear", xlabel="‖ΔW‖/‖W‖ (%)", ylabel=ylabel)
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim()))[:2 if log else 1]:
            _log_ticks(axis, *limits)
    handles = [Line2D([], [], ls="", marker=look[k]["marker"], color=look[k]["colour"]) for k in present]
    handles.append(Line2D([], [], ls="", marker="o", markerfacecolor="none", markeredgecolor="black"))
    finish(fig, title, axes, handles, present + ["disabling (the rule)"])
    return fig
