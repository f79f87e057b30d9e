"""The notebooks' figures, drawn from their tables alone (so a run, a merge of shards and
``python -m editlib.suite.report regenerate`` draw the same ones), saved as PNG and SVG.

A method has one colour in every figure (:data:`METHOD_COLOURS`); settings of one method are
told apart by line style, marker and hatch. Intervals are error bars at the measured points,
never a band between them. Rates are drawn on their full 0–100 scale. A refused (singular)
solve is marked as an annotation, never as a value. A memorization residual at or below
:data:`RESIDUAL_FLOOR` is round-off and is drawn on the floor, labelled "≤ 1e-12".
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..engine.solvers import SINGULAR_COND
from ..evaluation.statistics import summarize
from .claims import notebook_claims, refused_solves

SCORES = ["ES", "PS", "NS", "S"]
METHOD_COLOURS = {"unedited": "#7f7f7f", "rome": "#1f77b4", "rome_original": "#9467bd", "memit": "#ff7f0e",
                  "emmet": "#2ca02c", "alphaedit": "#d62728"}
OTHER_COLOURS = ["#8c564b", "#e377c2", "#17becf", "#bcbd22"]
LINESTYLES, MARKERS, HATCHES = ["-", "--", ":", "-."], ["o", "s", "^", "D"], ["", "///", "...", "xx"]
RESIDUAL_FLOOR = 1e-12
COLUMN_WIDTH = 7.0           # inches: a figure is drawn to be read at a paper's column width
RANGE = {"ES": (0, 100), "PS": (0, 100), "NS": (0, 100), "S": (0, 100), "EM": (-100, 100), "PM": (-100, 100),
         "NM": (-100, 100)}
LABELS = {"S": "S (harmonic mean of ES, PS, NS)", "EM": "EM: P(new) − P(true)", "PM": "PM (paraphrases)",
          "NM": "NM (neighbours)", "ES": "ES (efficacy)", "PS": "PS (paraphrases)", "NS": "NS (neighbours)"}


@dataclass(frozen=True)
class Style:
    colour: str
    linestyle: str
    marker: str
    hatch: str


def styles(table: pd.DataFrame, order=None) -> dict[str, Style]:
    """Each setting's style: its method's colour, and the n-th setting of a method its n-th
    line style, marker and hatch (settings in ``order``, else as they appear)."""
    first = table.drop_duplicates("setting").set_index("setting")
    labels = list(dict.fromkeys(list(order or []) + list(first.index)))
    out, seen, extra = {}, {}, iter(OTHER_COLOURS)
    for label in labels:
        method = str(first["method"].get(label, label)) if "method" in first else label
        k = seen[method] = seen.get(method, -1) + 1
        colour = METHOD_COLOURS.get(method) or METHOD_COLOURS.setdefault(method, next(extra, "#333333"))
        out[label] = Style(colour, LINESTYLES[k % 4], MARKERS[k % 4], HATCHES[k % 4])
    return out


def save(fig, out_dir, name: str) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    with plt.rc_context({"svg.hashsalt": "editlib"}):     # the same figure, the same file: fixed ids, no date
        fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return paths


def save_all(figures: dict, out_dir, stem: str) -> list[Path]:
    """Save :func:`draw`'s figures as ``<stem><suffix>.png/.svg``."""
    return [p for suffix, fig in figures.items() for p in save(fig, out_dir, f"{stem}{suffix}")]


def _range(ax, metric: str, values=()) -> None:
    """The metric's whole scale for a rate; a magnitude from its range's floor or the data's."""
    if metric in ("ES", "PS", "NS", "S"):
        ax.set_ylim(0, 100)
    elif metric in RANGE:
        low = np.nanmin(values) if len(values) else 0
        ax.set_ylim(-100 if low < 0 else 0, 100)


def _bars(ax, s: pd.DataFrame, order: list[str], style: dict[str, Style], scores) -> None:
    width = 0.8 / max(len(order), 1)
    for k, setting in enumerate(order):
        g = s[s.setting == setting].set_index("metric").reindex(scores)
        x = np.arange(len(scores)) + (k - (len(order) - 1) / 2) * width
        st = style[setting]
        ax.bar(x, g["mean"], width, color=st.colour, hatch=st.hatch, edgecolor="white", label=setting)
        ax.errorbar(x, g["mean"], yerr=[g["mean"] - g.ci_low, g.ci_high - g["mean"]], fmt="none", ecolor="black",
                    elinewidth=0.8, capsize=2, clip_on=False)
    ax.set_xticks(np.arange(len(scores)), scores)


def score_bars(metrics: pd.DataFrame, title: str, scores=SCORES, order=None):
    """Mean ES, PS, NS and S per setting with 95 % intervals, on the full 0–100 scale."""
    style = styles(metrics, order)
    s = summarize(metrics, ["setting"])
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.2))
    _bars(ax, s, list(style), style, scores)
    ax.set(ylim=(0, 100), ylabel="score (×100)", title=title)
    ax.set_xlabel("metric (S = harmonic mean of ES, PS, NS); bars: mean, whiskers: 95 % interval", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def _floor(values: pd.Series) -> pd.Series:
    return values.clip(lower=RESIDUAL_FLOOR)


def objective_view(diags: pd.DataFrame, title: str, order=None):
    """Per single edit: the preservation cost tr(ΔC₀Δᵀ) and the memorization residual
    ‖ΔK − R‖ / ‖R‖ per setting; residuals at or below round-off are drawn as "≤ 1e-12"."""
    style = styles(diags, order)
    labels = [s for s in style if s in set(diags.setting)]
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.2))
    rng = np.random.default_rng(0)                                # the jitter of the points
    for ax, col, label in ((axes[0], "preservation_cost", "preservation cost tr(Δ C₀ Δᵀ)"),
                           (axes[1], "relative_residual", "memorization residual ‖ΔK − R‖ / ‖R‖")):
        for i, setting in enumerate(labels):
            v = diags.loc[diags.setting == setting, col].dropna()
            st = style[setting]
            low = v <= RESIDUAL_FLOOR if col == "relative_residual" else v < -np.inf
            x = i + rng.uniform(-0.15, 0.15, len(v))
            ax.scatter(x[~low.to_numpy()], v[~low], s=9, color=st.colour)
            ax.scatter(x[low.to_numpy()], [RESIDUAL_FLOOR] * int(low.sum()), s=9, facecolors="none",
                       edgecolors=st.colour)
            if len(v):
                ax.hlines(_floor(v).median() if col == "relative_residual" else v.median(), i - 0.3, i + 0.3,
                          color="black", lw=1.2)
        ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
        ax.set(yscale="log", ylabel=label)
        ax.yaxis.label.set_fontsize(8)
    ax = axes[1]
    lo, hi = ax.get_ylim()
    ax.set_ylim(RESIDUAL_FLOOR / 10, max(hi, 1.0))
    ax.axhspan(RESIDUAL_FLOOR / 10, RESIDUAL_FLOOR, color="0.9", zorder=0)
    ax.text(0.99, RESIDUAL_FLOOR, "≤ 1e-12 (round-off: the constraint holds)", transform=ax.get_yaxis_transform(),
            ha="right", va="top", fontsize=7, color="0.3")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _mark_refused(ax, refused: pd.DataFrame, style: dict[str, Style], x: str = "batch_size") -> None:
    """A refused solve as an annotation at its x: a dotted line in the setting's colour, and
    the words "refused (singular)"; no value is drawn there."""
    for _, r in refused.drop_duplicates(["setting", x]).iterrows():
        colour = style[r.setting].colour if r.setting in style else "black"
        ax.axvline(r[x], color=colour, ls=":", lw=1)
        ax.annotate(f"{r.setting}: refused (singular)", (r[x], 0.03), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=6, color=colour, ha="right", va="bottom")


def _mark_d_k(ax, d_k):
    if d_k:
        ax.axvline(d_k, color="grey", ls="--", lw=0.8)
        ax.annotate(f"d_k = {d_k}", (d_k, 0.97), xycoords=("data", "axes fraction"), fontsize=6, color="grey",
                    ha="left", va="top", rotation=90)


def _lines(ax, s: pd.DataFrame, x: str, metric: str, style: dict[str, Style], xs) -> None:
    """Mean and 95 % interval per setting at each measured x, as error bars; a gap where a
    setting has no value (a line never bridges a refused solve)."""
    g_all = s[s.metric == metric]
    for setting, st in style.items():
        g = g_all[g_all.setting == setting].set_index(x).reindex(xs)
        if g["mean"].notna().any():
            ax.errorbar(g.index, g["mean"], yerr=[g["mean"] - g.ci_low, g.ci_high - g["mean"]], color=st.colour,
                        ls=st.linestyle, marker=st.marker, ms=3.5, capsize=2, lw=1.1, label=setting)
    _range(ax, metric, g_all.ci_low.dropna())
    ax.set_ylabel(LABELS.get(metric, metric), fontsize=8)


def batch_lines(metrics: pd.DataFrame, title: str, scores=("ES", "PS", "NS", "S", "EM", "PM", "NM"), order=None,
                diags=None):
    """Every metric against the batch size, one line per setting."""
    style = styles(metrics, order)
    s = summarize(metrics, ["setting", "batch_size"])
    scores = [m for m in scores if m in set(s.metric)]
    xs = sorted(metrics.batch_size.dropna().unique())
    rows = -(-len(scores) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(COLUMN_WIDTH, 2.3 * rows), sharex=True)
    for ax, metric in zip(axes.flat, scores):
        _lines(ax, s, "batch_size", metric, style, xs)
        _mark_refused(ax, refused_solves(diags), style)
        ax.set_xscale("log", base=2)
    for ax in list(axes.flat)[len(scores):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("batch size (facts edited at once)", fontsize=8)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def batch_mechanism(metrics: pd.DataFrame, diags: pd.DataFrame, cond: pd.DataFrame | None = None,
                    d_k: int | None = None, title: str = "", order=None):
    """The batch-size finding and its mechanism, 2 × 2: S and EM per setting against the
    batch (95 % intervals), cond(Kᵀ C₀⁻¹ K + λμ I) from the keys alone, and ‖Δ‖ per setting;
    d_k marked (past it Kᵀ C₀⁻¹ K has rank ≤ d_k < B, so μ = 0 is singular), refused solves
    annotated."""
    style = styles(metrics, order)
    s = summarize(metrics, ["setting", "batch_size"])
    refused = refused_solves(diags)
    solved = diags[diags["error"].isna()] if "error" in diags else diags
    xs = sorted(set(metrics.batch_size.dropna()) | set(refused.batch_size.dropna()))
    fig, axes = plt.subplots(2, 2, figsize=(COLUMN_WIDTH, 5.6))
    for ax, metric in ((axes[0, 0], "S"), (axes[0, 1], "EM")):
        _lines(ax, s, "batch_size", metric, style, xs)
    ax = axes[1, 0]
    if cond is not None and len(cond):
        greys = ["0.1", "0.4", "0.65", "0.8"]                             # no method's colour: keys only
        for (mu, g), colour in zip(cond.groupby("mu"), greys):
            ax.plot(g["batch_size"], g["condition_number"], marker="s", ms=3.5, color=colour, label=f"μ = {mu:g}")
    ax.axhline(SINGULAR_COND, color="black", lw=0.6, ls=":", label="refused above")
    ax.set(yscale="log", ylabel="cond(Kᵀ C₀⁻¹ K + λμ I), keys only")
    ax.legend(fontsize=6, title="EMMET ridge", title_fontsize=6)
    ax = axes[1, 1]
    for setting, st in style.items():
        g = solved[solved.setting == setting].groupby("batch_size")["update_norm"].median()
        if len(g):
            ax.plot(g.index, g.values, marker=st.marker, ls=st.linestyle, ms=3.5, color=st.colour, label=setting)
    ax.set(yscale="log", ylabel="‖Δ‖ (median per batch size)")
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.yaxis.label.set_fontsize(8)
        _mark_d_k(ax, d_k)
        if ax is not axes[1, 0]:
            _mark_refused(ax, refused, style)
    for ax in axes[1]:
        ax.set_xlabel("batch size", fontsize=8)
    axes[0, 0].legend(fontsize=6, loc="lower left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def sequential_lines(metrics: pd.DataFrame, trajectory: pd.DataFrame, title: str, order=None):
    """Lifelong editing against the number of edits, 4 × 2: retention (ES, EM of a fixed
    sample of earlier edits), the batch just written (ES, PS, NS), with 95 % intervals;
    perplexity on held-out text (the unedited model's dashed), ‖W_t − W_0‖ and each batch's ‖Δ‖."""
    style = styles(metrics, order)
    panels = [("retention", "ES"), ("retention", "EM"), ("batch", "ES"), ("batch", "PS"), ("batch", "NS")]
    fig, axes = plt.subplots(4, 2, figsize=(COLUMN_WIDTH, 10), sharex=True)
    axes = axes.flat
    xs = sorted(metrics.n_edits.dropna().unique())
    for ax, (scope, metric) in zip(axes, panels):
        s = summarize(metrics[(metrics.scope == scope) & (metrics.metric == metric)], ["setting", "n_edits"])
        _lines(ax, s, "n_edits", metric, style, xs)
        ax.set_title(f"{metric}, {'earlier edits kept' if scope == 'retention' else 'batch just written'}",
                     fontsize=8)
    traj = trajectory[trajectory.setting.isin(style)]
    for ax, col, label in ((axes[5], "perplexity", "perplexity (held-out text)"),
                           (axes[6], "weight_drift", "‖W_t − W_0‖"), (axes[7], "update_norm", "‖Δ‖ of each batch")):
        if col not in traj:
            ax.set_visible(False)
            continue
        for setting, st in style.items():
            g = traj[traj.setting == setting].dropna(subset=[col]).sort_values("n_edits")
            ax.plot(g.n_edits, g[col], marker=st.marker, ls=st.linestyle, ms=3.5, color=st.colour, label=setting)
        if col == "perplexity":
            base = traj.loc[traj.n_edits == 0, "perplexity"].dropna()
            if len(base):
                ax.axhline(base.iloc[0], color="grey", ls="--", lw=1, label="unedited")
        ax.set_title(label, fontsize=8)
        ax.set_ylim(bottom=0)
    _mark_refused(axes[6], refused_solves(trajectory), style, x="n_edits")
    for ax in (axes[6], axes[7]):
        ax.set_xlabel("edits written", fontsize=8)
    axes[0].legend(fontsize=6, loc="lower left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _row_label(r) -> str:
    where = [f"B={int(r.batch_size)}"] if pd.notna(r.batch_size) else []
    where += [r.scope] if isinstance(r.scope, str) and r.scope else []
    return " · ".join([r.comparison, *where])


def differences(claims: pd.DataFrame, title: str):
    """Each comparison's paired difference A − B in S (or ES) and EM, with its 95 % interval
    and a zero line: a filled marker where the difference is resolved
    (:func:`~editlib.evaluation.statistics.verdict`), a hollow one where it is not; a refused
    solve is named at 0. Rows with one measurement (no interval) are left out. The panels
    share their rows: a comparison sits at the same height in each."""
    c = claims[claims.ci_low.notna() | (claims.verdict == "refused (singular)")]
    present = set(c.metric)
    metrics = [m for m in ("S" if "S" in present else "ES", "EM") if m in present]   # claims.csv has every metric
    c = c[c.metric.isin(metrics)].assign(label=lambda d: [_row_label(r) for r in d.itertuples()])
    labels = list(dict.fromkeys(c.label))
    height = {label: len(labels) - 1 - i for i, label in enumerate(labels)}
    fig, axes = plt.subplots(1, len(metrics), figsize=(COLUMN_WIDTH, 1.2 + 0.3 * max(len(labels), 3)), squeeze=False,
                             sharey=True)
    for ax, metric in zip(axes[0], metrics):
        g = c[c.metric == metric]
        y = g.label.map(height).to_numpy()
        shown = g.ci_low.notna().to_numpy()
        resolved = g.verdict.isin(["A > B", "A < B"]).to_numpy() & shown
        d, lo, hi = g.difference[shown], g.ci_low[shown], g.ci_high[shown]
        ax.errorbar(d, y[shown], xerr=[d - lo, hi - d], fmt="none", ecolor="black", elinewidth=0.9, capsize=2)
        ax.scatter(g.difference[resolved], y[resolved], color="black", s=16, zorder=3,
                   label="resolved: interval excludes 0, p < 0.05")
        ax.scatter(g.difference[shown & ~resolved], y[shown & ~resolved], facecolors="white", edgecolors="black", s=16,
                   zorder=3, label="no difference resolved")
        for yy in y[(g.verdict == "refused (singular)").to_numpy()]:
            ax.annotate("refused (singular)", (0, yy), fontsize=6, ha="left", va="center", color="0.3")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_title(f"Δ {metric} (A − B, ×100)", fontsize=8)
    axes[0, 0].set_yticks(list(height.values()), list(height), fontsize=6)
    axes[0, 0].set_ylim(-0.7, len(labels) - 0.3)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=6, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _name(table: pd.DataFrame) -> str:
    return f"{table['model'].iloc[0]}"


def draw(notebook: str, tables: dict[str, pd.DataFrame], claims: pd.DataFrame | None = None) -> dict:
    """A notebook's figures from its tables: ``tables`` maps "" (the per-case table) and the
    side tables' suffixes ("_diagnostics", "_conditioning", "_trajectory") to frames.
    Returns {file suffix: figure}."""
    table = tables[""]
    diags = tables.get("_diagnostics")
    claims = notebook_claims(notebook, tables) if claims is None else claims
    model, dataset, n = _name(table), table["dataset"].iloc[0], table["case_id"].nunique()
    layers = diags["layers"].iloc[0] if diags is not None and "layers" in diags else ""
    figs = {}
    if notebook == "01_objectives":
        figs["_scores"] = score_bars(table, f"{model}: single edits at layers {layers}, {n} {dataset} cases")
        figs["_objective"] = objective_view(diags, f"{model}: the objective per single edit (layers {layers})",
                                            order=list(dict.fromkeys(table.setting)))
    elif notebook == "02_edit_distribution":
        sets = " vs ".join(diags.groupby("mode", sort=False)["layers"].first()) if diags is not None else ""
        figs["_scores"] = score_bars(table, f"{model}: one layer or spread ({sets}), {n} {dataset} cases")
    elif notebook == "03_emmet_batch_size":
        cond = tables.get("_conditioning")
        d_k = int(cond["d_k"].iloc[0]) if cond is not None and "d_k" in cond else None
        layer = int(diags["layer"].dropna().iloc[-1]) if diags is not None and "layer" in diags else ""
        scored = table.groupby("batch_size").case_id.nunique().min()
        figs["_mechanism"] = batch_mechanism(table, diags, cond, d_k, title=f"{model}: batch editing at layer {layer}, "
                                             f"{dataset} facts, {scored} scored per batch size")
        figs["_scores"] = batch_lines(table, f"{model}: every metric against the batch (layer {layer})", diags=diags)
    elif notebook == "04_sequential_editing":
        size = int(table["batch_size"].iloc[0])
        figs["_curves"] = sequential_lines(table, tables["_trajectory"],
                                           f"{model}: {int(table.n_edits.max()) // size} batches of {size} written "
                                           f"one after another ({dataset} facts)")
    if len(claims) and claims.ci_low.notna().any():
        figs["_differences"] = differences(claims, f"{model}: paired differences A − B over the same cases "
                                                   f"(95 % intervals)")
    return figs
