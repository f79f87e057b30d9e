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


def batch_lines(metrics: pd.DataFrame, title: str, scores=SCORES):
    s = summarize(metrics, ["setting", "batch_size"])
    s = s[s.metric.isin(scores)]
    g = sns.relplot(data=s, x="batch_size", y="mean", hue="setting", col="metric", col_order=scores,
                    kind="line", marker="o", height=2.8, aspect=0.9, facet_kws={"sharey": False})
    g.set(xscale="log")
    g.set_axis_labels("batch size (facts edited at once)", "score (×100)")
    for ax in g.axes.flat:
        ax.set_xscale("log", base=2)
    g.figure.suptitle(title, fontsize=10, y=1.04)
    return g.figure


def diagnostics_lines(diags: pd.DataFrame, title: str, cond: pd.DataFrame | None = None):
    """Per batch size: condition number of the solved system, relative residual, update norm."""
    panels = [("condition_number", "condition number of the solved matrix"),
              ("relative_residual", "‖ΔK − R‖ / ‖R‖"), ("update_norm", "‖Δ‖ (Frobenius)")]
    n = len(panels) + (cond is not None)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.3))
    d = diags.copy()
    d["relative_residual"] = d["relative_residual"].clip(lower=1e-17)
    for ax, (col, label) in zip(axes, panels):
        sns.lineplot(data=d, x="batch_size", y=col, hue="setting", marker="o", ax=ax, errorbar=None)
        ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel=label)
        ax.set_xscale("log", base=2)
    if cond is not None:
        ax = axes[-1]
        c = cond.assign(ridge=cond["mu"].map(lambda m: f"μ = {m:g}"))
        sns.lineplot(data=c, x="batch_size", y="condition_number", hue="ridge", marker="o", ax=ax)
        ax.set(xscale="log", yscale="log", xlabel="batch size (keys only)",
               ylabel="cond(Kᵀ C₀⁻¹ K + λμ I)")
        ax.set_xscale("log", base=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
