"""Single edits: scores per setting, and the objective each solve paid."""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch

from ...evaluation.statistics import summarize
from .style import (
    RESIDUAL_FLOOR,
    SCORES,
    colours_of,
    finish,
    interval_bars,
    new_figure,
    palette,
    themed,
)


@themed
def score_bars(metrics: pd.DataFrame, title: str, scores=SCORES, order=None):
    """Mean ES, PS, NS and S per setting (bars, seaborn) with their 95 % intervals (error
    bars), on the full 0–100 scale."""
    look = palette(metrics, order)
    s = summarize(metrics, ["setting"])
    s = s[s.metric.isin(scores)]
    hue_order = [k for k in look if k in set(s.setting)]
    rows = -(-len(hue_order) // 2)
    fig, axes = new_figure(1, 1, 2.0 + 0.14 * rows)
    ax = axes[0, 0]
    sns.barplot(data=s, x="metric", y="mean", hue="setting", order=list(scores), hue_order=hue_order,
                palette=colours_of(look), errorbar=None, ax=ax, edgecolor="white", linewidth=0.4, saturation=1,
                legend=False)
    for setting, bars in zip(hue_order, ax.containers):
        g = s[s.setting == setting].set_index("metric").reindex(list(scores))
        x = [b.get_x() + b.get_width() / 2 for b in bars]
        for b in bars:
            b.set_hatch(look[setting]["hatch"])
        interval_bars(ax, x, g.ci_low, g.ci_high, ecolor="black", elinewidth=0.6)
    ax.set(ylim=(0, 100), ylabel="score (×100), 95 % interval", xlabel="")
    handles = [Patch(facecolor=look[k]["colour"], hatch=look[k]["hatch"], edgecolor="white") for k in hue_order]
    finish(fig, title, handles=handles, labels=hue_order)
    return fig


def _jitter(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.18, 0.18, n)


@themed
def objective_view(diags: pd.DataFrame, title: str, order=None):
    """Per single edit (points, seaborn): the preservation cost tr(ΔC₀Δᵀ) and the memorization
    residual ‖ΔK − R‖ / ‖R‖ per setting, with the median as a bar; residuals at or below
    round-off are drawn hollow on the floor "≤ 1e-12"."""
    look = palette(diags, order)
    labels = [s for s in look if s in set(diags.setting)]
    fig, axes = new_figure(1, 2, 2.4)
    panels = (("preservation_cost", "preservation cost tr(ΔC₀Δᵀ)"),
              ("relative_residual", "residual ‖ΔK − R‖ / ‖R‖"))
    for ax, (col, ylabel) in zip(axes[0], panels):
        d = diags[diags.setting.isin(labels)][["setting", col]].dropna().copy()
        d["x"] = d.setting.map({s: i for i, s in enumerate(labels)}) + _jitter(len(d), 0)
        floor = (d[col] <= RESIDUAL_FLOOR) if col == "relative_residual" else pd.Series(False, index=d.index)
        d["shown"] = d[col].where(~floor, RESIDUAL_FLOOR)
        sns.scatterplot(data=d[~floor], x="x", y="shown", hue="setting", palette=colours_of(look), hue_order=labels,
                        s=7, linewidth=0, legend=False, ax=ax)
        if floor.any():                                           # round-off: hollow, on the floor
            f = d[floor]
            ax.scatter(f.x, f.shown, s=7, facecolors="none", edgecolors=[look[x]["colour"] for x in f.setting],
                       linewidths=0.6)
        med = d.groupby("setting")["shown"].median()
        for i, s in enumerate(labels):
            if s in med:
                ax.hlines(med[s], i - 0.3, i + 0.3, color="black", lw=1.0)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
        ax.set(yscale="log", ylabel=ylabel, xlabel="", xlim=(-0.6, len(labels) - 0.4))
    ax = axes[0, 1]
    lo, hi = ax.get_ylim()
    ax.set_ylim(RESIDUAL_FLOOR / 10, max(hi, 1.0))
    ax.axhspan(RESIDUAL_FLOOR / 10, RESIDUAL_FLOOR, color="0.92", zorder=0)
    ax.set_yticks([t for t in ax.get_yticks() if RESIDUAL_FLOOR < t <= max(hi, 1.0)] + [RESIDUAL_FLOOR])
    ticks = ax.get_yticks()
    ax.set_yticklabels(["≤1e-12" if t == RESIDUAL_FLOOR else f"1e{int(np.log10(t))}" for t in ticks])
    finish(fig, title, axes)
    return fig
