"""Figures for the notebooks (seaborn), saved as PNG and SVG."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .evaluate import summarize

SCORES = ["ES", "PS", "NS", "S"]


def save(fig, out_dir, name: str) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.savefig(paths[0], dpi=130, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths


def score_bars(metrics: pd.DataFrame, by: str, title: str, hue: str | None = None, scores=SCORES):
    """Bars of mean ES/PS/NS/S per ``by`` (and ``hue``) with 95% intervals."""
    groups = [by] + ([hue] if hue else [])
    s = summarize(metrics, groups)
    s = s[s.metric.isin(scores)]
    fig, ax = plt.subplots(figsize=(1.6 + 1.7 * len(scores), 3.6))
    if hue:
        s = s.assign(group=s[by].astype(str) + " · " + s[hue].astype(str))
    else:
        s = s.assign(group=s[by].astype(str))
    order = sorted(dict.fromkeys(s.group), key=lambda g: (not g.startswith("unedited"), g))
    sns.barplot(data=s, x="metric", y="mean", hue="group", hue_order=order, order=scores, ax=ax)
    for bar_group, g in zip(ax.containers, order):
        sub = s[s.group == g].set_index("metric").reindex(scores)
        xs = [b.get_x() + b.get_width() / 2 for b in bar_group]
        ax.errorbar(xs, sub["mean"], yerr=[sub["mean"] - sub["ci_low"], sub["ci_high"] - sub["mean"]],
                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    ax.set(ylim=(0, 105), xlabel="metric (×100; S = harmonic mean of ES, PS, NS)", ylabel="score", title=title)
    ax.legend(title=" · ".join(groups), fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def objective_view(diags: pd.DataFrame, by: str, title: str):
    """Preservation cost tr(ΔCΔᵀ) and memorization residual ‖ΔK−R‖/‖R‖ per edit."""
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4))
    d = diags.copy()
    d["relative_residual"] = d["relative_residual"].clip(lower=1e-17)
    sns.boxplot(data=d, x=by, y="preservation_cost", ax=axes[0], hue=by, legend=False)
    sns.stripplot(data=d, x=by, y="preservation_cost", ax=axes[0], color="black", size=2.5)
    axes[0].set(yscale="log", ylabel="preservation cost tr(Δ C₀ Δᵀ)", xlabel="")
    sns.boxplot(data=d, x=by, y="relative_residual", ax=axes[1], hue=by, legend=False)
    sns.stripplot(data=d, x=by, y="relative_residual", ax=axes[1], color="black", size=2.5)
    axes[1].set(yscale="log", ylabel="memorization residual ‖ΔK − R‖ / ‖R‖", xlabel="")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def setting_palette(labels) -> dict:
    """One fixed colour per setting label (in order of first appearance), so a setting has
    the same colour in every panel and figure of a notebook."""
    labels = list(dict.fromkeys(labels))
    return dict(zip(labels, sns.color_palette(n_colors=max(len(labels), 1))))


def batch_lines(metrics: pd.DataFrame, title: str, scores=SCORES + ["EM", "PM", "NM"], order=None):
    """Mean scores against batch size, one line per setting (``order``: the settings'
    labels, fixing their colours; default: as they appear). The rates (ES/PS/NS/S) often
    saturate on easy facts; the magnitudes (EM/PM/NM, probability differences) show a
    degradation earlier, so both are drawn, each panel on its full scale."""
    s = summarize(metrics, ["setting", "batch_size"])
    scores = [m for m in scores if m in set(s.metric)]
    s = s[s.metric.isin(scores)]
    palette = setting_palette(order or metrics["setting"])
    g = sns.relplot(data=s, x="batch_size", y="mean", hue="setting", col="metric", col_order=scores,
                    hue_order=list(palette), palette=palette, col_wrap=4,
                    kind="line", marker="o", height=2.6, aspect=1.0, facet_kws={"sharey": False})
    g.set_axis_labels("batch size (facts edited at once)", "score (×100)")
    g.set_titles("{col_name}")
    for metric, ax in zip(scores, g.axes.flat):
        ax.set_xscale("log", base=2)
        low = s.loc[s.metric == metric, "mean"].min()
        ax.set_ylim(min(0.0, low - 5), 105)      # full scale: a 2-point wobble must look like one
    g.figure.suptitle(title, fontsize=10, y=1.04)
    return g.figure


def diagnostics_lines(diags: pd.DataFrame, title: str, cond: pd.DataFrame | None = None, order=None):
    """Per batch size: condition number of the solved system, relative residual, update norm."""
    panels = [("condition_number", "condition number of the solved matrix"),
              ("relative_residual", "‖ΔK − R‖ / ‖R‖"), ("update_norm", "‖Δ‖ (Frobenius)")]
    n = len(panels) + (cond is not None)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.3))
    d = diags.copy()
    d["relative_residual"] = d["relative_residual"].clip(lower=1e-17)
    palette = setting_palette(order or d["setting"])
    for ax, (col, label) in zip(axes, panels):
        sns.lineplot(data=d, x="batch_size", y=col, hue="setting", hue_order=list(palette), palette=palette,
                     marker="o", ax=ax, errorbar=None)
        ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel=label)
        ax.set_xscale("log", base=2)
    if cond is not None:
        ax = axes[-1]
        c = cond.assign(ridge=cond["mu"].map(lambda m: f"μ = {m:g}"))
        sns.lineplot(data=c, x="batch_size", y="condition_number", hue="ridge", marker="s", ax=ax,
                     palette="Greys_d")            # not a setting: kept out of the settings' colours
        ax.set(xscale="log", yscale="log", xlabel="batch size (keys only)",
               ylabel="cond(Kᵀ C₀⁻¹ K + λμ I)")
        ax.set_xscale("log", base=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
