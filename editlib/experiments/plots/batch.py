"""Batch edits: every metric against the batch size, and the mechanism (conditioning, ‖Δ‖, d_k)."""
from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from ...engine.algebra.solvers import SINGULAR_COND
from ...evaluation.statistics import summarize
from ..claims import refused_solves
from .style import (
    REFUSED,
    colours_of,
    dashes,
    finish,
    lines,
    log2_axis,
    mark_refused,
    new_figure,
    palette,
    setting_handles,
    themed,
)


@themed
def batch_lines(metrics: pd.DataFrame, title: str, scores=("ES", "PS", "NS", "S", "EM", "PM", "NM"), order=None,
                diags=None):
    """Every metric against the batch size, one line per setting, dodged, with 95 % intervals."""
    look = palette(metrics, order)
    s = summarize(metrics, ["setting", "batch_size"])
    scores = [m for m in scores if m in set(s.metric)]
    xs = sorted(metrics.batch_size.dropna().unique())
    rows = -(-len(scores) // 2)
    present = [k for k in look if k in set(metrics.setting)]
    fig, axes = new_figure(rows, 2, 1.25 * rows + 0.5, sharex=True)
    refused = refused_solves(diags)
    for ax, metric in zip(axes.flat, scores):
        lines(ax, s, "batch_size", metric, look, xs)
        mark_refused(ax, refused, look)
        log2_axis(ax)
    for ax in list(axes.flat)[len(scores):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("batch size")
    if len(scores) % 2:
        axes[-2, 1].xaxis.set_tick_params(labelbottom=True)
        axes[-2, 1].set_xlabel("batch size")
    handles, labels = setting_handles(look, present)
    if len(refused):
        handles.append(Line2D([], [], **REFUSED))
        labels.append("refused (singular), at its batch size")
    finish(fig, title, axes, handles, labels)
    return fig


@themed
def batch_mechanism(metrics: pd.DataFrame, diags: pd.DataFrame, cond: pd.DataFrame | None = None,
                    d_k: int | None = None, title: str = "", order=None):
    """The batch-size finding and its mechanism, 2 × 2: S and EM per setting against the
    batch (95 % intervals); cond(Kᵀ C₀⁻¹ K + λμ I) from the keys alone; ‖Δ‖ per setting.
    d_k and refused solves are marked by lines the legend names; all panels share x."""
    look = palette(metrics, order)
    s = summarize(metrics, ["setting", "batch_size"])
    refused = refused_solves(diags)
    solved = diags[diags["error"].isna()] if "error" in diags else diags
    xs = sorted(set(metrics.batch_size.dropna()) | set(refused.batch_size.dropna()))
    present = [k for k in look if k in set(metrics.setting)]
    fig, axes = new_figure(2, 2, 3.9, sharex=True)
    for ax, metric in ((axes[0, 0], "S"), (axes[0, 1], "EM")):
        lines(ax, s, "batch_size", metric, look, xs)
    ax = axes[1, 0]
    mus = []
    if cond is not None and len(cond):
        c = cond.assign(ridge=cond["mu"].map(lambda m: f"μ = {m:g}"))
        mus = list(dict.fromkeys(c.ridge))
        greys = dict(zip(mus, ["0.1", "0.45", "0.7", "0.82"]))               # no method's colour: keys only
        sns.lineplot(data=c, x="batch_size", y="condition_number", hue="ridge", palette=greys, marker="s",
                     markersize=3, estimator=None, legend=False, ax=ax)
    ax.axhline(SINGULAR_COND, color="black", lw=0.6, ls=(0, (1, 2)))
    ax.set(yscale="log", ylabel="cond(KᵀC₀⁻¹K + λμI)")
    ax = axes[1, 1]
    norms = (solved.groupby(["setting", "batch_size"])["update_norm"].median().reset_index()
             if "update_norm" in solved else pd.DataFrame(columns=["setting", "batch_size", "update_norm"]))
    norms = norms[norms.setting.isin(present)]
    if len(norms):
        sns.lineplot(data=norms, x="batch_size", y="update_norm", hue="setting", style="setting", estimator=None,
                     hue_order=present, style_order=present, palette=colours_of(look),
                     markers={k: look[k]["marker"] for k in present},
                     dashes={k: dashes(look[k]["linestyle"]) for k in present}, legend=False, ax=ax)
    ax.set(yscale="log", ylabel="‖Δ‖ (median)")
    every_x = sorted(set(xs) | (set(cond.batch_size) if cond is not None and len(cond) else set()))
    for ax in axes.flat:
        log2_axis(ax)
        if d_k:
            ax.axvline(d_k, color="0.5", ls="--", lw=0.7)
        if ax is not axes[1, 0]:
            mark_refused(ax, refused, look)
        ax.set_xlim(min(every_x) / 1.4, max(every_x) * 1.4)
    for ax in axes[1]:
        ax.set_xlabel("batch size")
    handles, labels = setting_handles(look, present)
    if mus:
        greys = dict(zip(mus, ["0.1", "0.45", "0.7", "0.82"]))
        handles += [Line2D([], [], color=greys[m], marker="s", markersize=3) for m in mus]
        labels += [f"cond., EMMET ridge {m}" for m in mus]
    handles.append(Line2D([], [], color="black", lw=0.6, ls=(0, (1, 2))))
    labels.append("cond. above which a solve is refused")
    if d_k:
        handles.append(Line2D([], [], color="0.5", ls="--", lw=0.7))
        labels.append(f"d_k = {d_k} (key width)")
    if len(refused):
        handles.append(Line2D([], [], **REFUSED))
        labels.append("refused (singular), at its batch size")
    finish(fig, title, axes, handles, labels)
    return fig
