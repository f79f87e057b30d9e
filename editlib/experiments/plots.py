"""Figures for the notebooks (seaborn), saved as PNG and SVG."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..engine.solvers import SINGULAR_COND
from ..evaluation.statistics import summarize

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


def _mark_d_k(ax, d_k):
    if d_k:
        ax.axvline(d_k, color="grey", ls="--", lw=0.8)
        ax.annotate(f"d_k = {d_k}", (d_k, 0.97), xycoords=("data", "axes fraction"), fontsize=7,
                    color="grey", ha="right", va="top", rotation=90)


def _mark_failures(ax, failed: pd.DataFrame, palette: dict):
    """Batches whose solve was refused (singular system): a cross at the panel's floor, in
    the setting's colour, so a missing point is seen as a failure, not as absent data."""
    if failed.empty:
        return
    floor = ax.get_ylim()[0]
    for setting, g in failed.groupby("setting"):
        ax.scatter(g["batch_size"], [floor] * len(g), marker="X", s=70, color=palette.get(setting, "black"),
                   zorder=5, clip_on=False, label=f"{setting}: singular")


def batch_mechanism(metrics: pd.DataFrame, diags: pd.DataFrame, cond: pd.DataFrame | None = None,
                    d_k: int | None = None, title: str = "", order=None):
    """The batch-size finding and its mechanism on one figure: S and EM (mean, 95% interval)
    per setting against the batch, cond(Kᵀ C₀⁻¹ K + λμ I) from the keys alone, and ‖Δ‖ per
    setting; the key width d_k marked (past it Kᵀ C₀⁻¹ K has rank ≤ d_k < B, so μ = 0 is
    singular) and every refused solve drawn as a cross."""
    palette = setting_palette(order or metrics["setting"])
    s = summarize(metrics, ["setting", "batch_size"])
    failed = diags[diags["error"].notna()] if "error" in diags else diags.iloc[:0]
    solved = diags[diags["error"].isna()] if "error" in diags else diags
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, metric, label in ((axes[0], "S", "S (harmonic mean of ES, PS, NS)"),
                              (axes[1], "EM", "EM: P(new) − P(true), ×100")):
        for setting, g in s[s.metric == metric].groupby("setting", sort=False):
            g = g.sort_values("batch_size")
            ax.errorbar(g["batch_size"], g["mean"], yerr=[g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]],
                        marker="o", ms=4, capsize=2, lw=1.2, color=palette.get(setting), label=setting)
        low = min(0, s.loc[s.metric == metric, "ci_low"].min() - 5)
        ax.set(xscale="log", ylabel=label, xlabel="batch size", ylim=(low, 105))
        ax.set_xscale("log", base=2)
        _mark_failures(ax, failed, palette)
        _mark_d_k(ax, d_k)
    ax = axes[2]
    if cond is not None and len(cond):
        greys = sns.color_palette("Greys_r", n_colors=cond["mu"].nunique() + 1)   # not a setting's colour
        for (mu, g), colour in zip(cond.groupby("mu"), greys):
            ax.plot(g["batch_size"], g["condition_number"], marker="s", ms=4, color=colour, label=f"μ = {mu:g}")
    ax.axhline(SINGULAR_COND, color="red", lw=0.6, ls=":", label="refused above")
    ax.set(xscale="log", yscale="log", xlabel="batch size (keys only)", ylabel="cond(Kᵀ C₀⁻¹ K + λμ I)")
    ax.set_xscale("log", base=2)
    _mark_d_k(ax, d_k)
    ax.legend(fontsize=7, title="EMMET ridge", title_fontsize=7)
    ax = axes[3]
    for setting, g in solved.groupby("setting", sort=False):
        g = g.groupby("batch_size")["update_norm"].median()
        ax.plot(g.index, g.values, marker="o", ms=4, color=palette.get(setting), label=setting)
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="‖Δ‖ (Frobenius, median per batch size)")
    ax.set_xscale("log", base=2)
    _mark_failures(ax, failed, palette)
    _mark_d_k(ax, d_k)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.9))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sequential_lines(metrics: pd.DataFrame, trajectory: pd.DataFrame, title: str, order=None):
    """Lifelong editing against the number of edits, one line per setting: retention
    (ES/EM of a fixed sample of earlier edits), the batch just written (ES, PS, NS with
    95 % intervals), perplexity on held-out text (the unedited model's as a dashed line)
    and ‖W_t − W_0‖."""
    palette = setting_palette(order or metrics["setting"])
    panels = [("retention", "ES"), ("retention", "EM"), ("batch", "ES"), ("batch", "PS"), ("batch", "NS")]
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.4))
    axes = axes.flat
    for ax, (scope, metric) in zip(axes, panels):
        s = summarize(metrics[(metrics.scope == scope) & (metrics.metric == metric)], ["setting", "n_edits"])
        for label, color in palette.items():
            g = s[s.setting == label].sort_values("n_edits")
            if len(g):
                # error bars at the measured points: a band would interpolate between a handful of them
                ax.errorbar(g.n_edits, g["mean"], yerr=[g["mean"] - g.ci_low, g.ci_high - g["mean"]], marker="o",
                            ms=4, capsize=2, lw=1.2, color=color, label=label)
        name = "earlier edits kept" if scope == "retention" else "batch just written"
        ax.set(title=f"{metric}, {name}", xlabel="edits written", ylabel=f"{metric} (×100)")
    traj = trajectory[trajectory.setting.isin(palette)]
    for ax, col, label in ((axes[5], "perplexity", "perplexity (held-out text)"),
                           (axes[6], "weight_drift", "‖W_t − W_0‖"),
                           (axes[7], "update_norm", "‖Δ‖ of each batch")):
        if col not in traj:
            ax.set_visible(False)
            continue
        for name, color in palette.items():
            g = traj[(traj.setting == name)].dropna(subset=[col]).sort_values("n_edits")
            ax.plot(g.n_edits, g[col], marker="o", color=color, label=name)
        if col == "perplexity":
            base = traj.loc[traj.n_edits == 0, "perplexity"].dropna()
            if len(base):
                ax.axhline(base.iloc[0], color="grey", ls="--", lw=1, label="unedited")
        ax.set(title=label, xlabel="edits written", ylabel=label)
    failed = traj[traj["error"].notna()] if "error" in traj else traj.iloc[:0]
    for _, r in failed.iterrows():
        axes[6].axvline(r.n_edits, color=palette[r.setting], ls=":", lw=1)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sequential_figure(metrics: pd.DataFrame, trajectory: pd.DataFrame, order=None):
    """:func:`sequential_lines` titled from the tables themselves (model, batches, facts):
    what notebook 04 draws, and what a merge of its shards draws again."""
    model, dataset = metrics["model"].iloc[0], metrics["dataset"].iloc[0]
    size = int(metrics["batch_size"].iloc[0])
    n = int(metrics["n_edits"].max()) // size
    return sequential_lines(metrics, trajectory, order=order or list(dict.fromkeys(trajectory["setting"])),
                            title=f"{model}: {n} batches of {size} written one after another ({dataset} facts)")
