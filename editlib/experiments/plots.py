"""Figures drawn with seaborn from tidy tables, the same for a run, a merge of shards and
``python -m editlib.suite.report regenerate``, saved as PNG and SVG.

- **One theme** (:func:`themed`): seaborn's ``paper`` context with 6–7 pt text, figures one
  paper column wide (:data:`COLUMN_WIDTH`, 3.3 in), panels lettered a, b, c, …
- **One palette** (:func:`palette`): a method keeps its colour in every figure; a second or
  third setting of one method gets a darker or lighter shade of it, and its own marker and
  line style, so settings that share a panel never share a colour.
- **editlib's intervals**: the means and 95 % intervals come from
  :func:`~editlib.evaluation.statistics.summarize` (Wilson / BCa); seaborn draws the marks and
  the intervals are passed to it as error bars, never recomputed by it.
- Settings that share an x are **dodged**; a line never bridges a refused solve; the panels
  of one figure share their x range; legends and annotations sit outside the data.
- Rates on their full 0–100 scale; a memorization residual at or below
  :data:`RESIDUAL_FLOOR` is round-off, drawn hollow on a labelled floor.
"""
from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import to_hex, to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..engine.algebra.solvers import SINGULAR_COND
from ..evaluation.statistics import summarize
from .claims import refused_solves

SCORES = ["ES", "PS", "NS", "S"]
COLUMN_WIDTH = 3.3           # inches: one column of a two-column paper
_CB = sns.color_palette("colorblind").as_hex()
METHOD_COLOURS = {"unedited": _CB[7], "rome": _CB[0], "rome_original": _CB[9], "memit": _CB[1], "emmet": _CB[2],
                  "alphaedit": _CB[4]}
OTHER_COLOURS = [_CB[5], _CB[3], _CB[6], _CB[8]]
MARKERS, LINESTYLES, HATCHES = ["o", "s", "^", "D"], ["-", "--", ":", "-."], ["", "////", "....", "xxxx"]
RESIDUAL_FLOOR = 1e-12
RC = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6, "ytick.labelsize": 6,
      "legend.fontsize": 6, "legend.title_fontsize": 6, "figure.titlesize": 7, "lines.linewidth": 1.0,
      "lines.markersize": 3.5, "axes.linewidth": 0.6, "grid.linewidth": 0.4, "patch.linewidth": 0.4,
      "errorbar.capsize": 1.5, "svg.hashsalt": "editlib"}
LABELS = {"S": "S (harmonic mean)", "EM": "EM: P(new) − P(true)", "PM": "PM (paraphrases)",
          "NM": "NM (neighbours)", "ES": "ES (efficacy)", "PS": "PS (paraphrases)", "NS": "NS (neighbours)"}


def themed(draw):
    """Draw inside editlib's theme (seaborn ``paper``, ticks, small type), leaving the
    caller's matplotlib settings as they were."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with sns.axes_style("ticks"), sns.plotting_context("paper", rc=RC), plt.rc_context(RC):
            return draw(*args, **kwargs)
    return wrapper


# ------------------------------------------------------------------ palette


def _shade(colour: str, k: int) -> str:
    """The k-th shade of a method's colour: itself, then darker, then lighter, ..."""
    if k == 0:
        return colour
    rgb = np.array(to_rgb(colour))
    toward = np.zeros(3) if k % 2 else np.ones(3)
    amount = 0.45 * (1 + (k - 1) // 2) / (1 + (k - 1) // 2 + 0.3)
    return to_hex(rgb + (toward - rgb) * amount)


def palette(table: pd.DataFrame, order=None) -> dict[str, dict]:
    """Each setting's look: ``{label: {"colour", "marker", "dashes", "hatch"}}``. The first
    setting of a method takes the method's colour, its n-th setting the n-th shade of it and
    the n-th marker, line style and hatch (settings in ``order``, else as they appear)."""
    first = table.drop_duplicates("setting").set_index("setting")
    labels = list(dict.fromkeys(list(order or []) + list(first.index)))
    out, seen, extra = {}, {}, iter(OTHER_COLOURS)
    colours = dict(METHOD_COLOURS)
    for label in labels:
        method = str(first["method"].get(label, label)) if "method" in first else label
        k = seen[method] = seen.get(method, -1) + 1
        base = colours.get(method) or colours.setdefault(method, next(extra, "#333333"))
        out[label] = {"colour": _shade(base, k), "marker": MARKERS[k % 4], "linestyle": LINESTYLES[k % 4],
                      "hatch": HATCHES[k % 4]}
    return out


def _colours(look: dict) -> dict:
    return {k: v["colour"] for k, v in look.items()}


# ------------------------------------------------------------------ figure plumbing


def _figure(rows: int, cols: int, height: float, **kw):
    fig, axes = plt.subplots(rows, cols, figsize=(COLUMN_WIDTH, height), squeeze=False, **kw)
    return fig, axes


def _letters(axes) -> None:
    """Panel letters a, b, c, ... at the top left of each visible panel, before the panel's
    own title when it has one."""
    for letter, ax in zip("abcdefghij", [a for a in np.ravel(axes) if a.get_visible()]):
        text = ax.get_title()
        ax.set_title("")
        ax.set_title(rf"$\bf{{{letter}}}$  {text}" if text else rf"$\bf{{{letter}}}$", loc="left")


def _title(fig, text: str, width: int = 62) -> None:
    fig.suptitle(textwrap.fill(text.replace("95 %", "95\u00a0%"), width))


def _legend_below(fig, handles, labels, ncol: int = 2) -> None:
    """One legend for the figure, below its panels (never over data)."""
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 0.0))


def _finish(fig, legend_rows: int = 0, title_lines: int = 1) -> None:
    """Lay the panels out between the legend below and the title above (which tight_layout
    leaves room for itself)."""
    h = fig.get_figheight()
    bottom = min(0.45, (0.08 + 0.12 * legend_rows) / h) if legend_rows else 0.0
    fig.tight_layout(rect=(0, bottom, 1, 1), h_pad=0.5, w_pad=0.5)


def save(fig, out_dir, name: str) -> list[Path]:
    """``<name>.png`` and ``<name>.svg`` in ``out_dir`` (the same figure, the same SVG bytes:
    fixed ids, no date); closes the figure."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.savefig(paths[0], dpi=200, bbox_inches="tight")
    with plt.rc_context({"svg.hashsalt": "editlib"}):
        fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return paths


def save_all(figures: dict, out_dir, stem: str) -> list[Path]:
    """Save figures ``{suffix: figure}`` as ``<stem><suffix>.png/.svg``."""
    return [p for suffix, fig in figures.items() for p in save(fig, out_dir, f"{stem}{suffix}")]


def _range(ax, metric: str, values=()) -> None:
    """A rate on its whole 0–100 scale; a margin from −100 when any value is negative."""
    if metric in ("ES", "PS", "NS", "S"):
        ax.set_ylim(0, 100)
    elif metric in ("EM", "PM", "NM"):
        low = np.nanmin(values) if len(values) else 0
        ax.set_ylim(-100 if low < 0 else 0, 100)


# ------------------------------------------------------------------ marks


@themed
def score_bars(metrics: pd.DataFrame, title: str, scores=SCORES, order=None):
    """Mean ES, PS, NS and S per setting (bars, seaborn) with their 95 % intervals (error
    bars), on the full 0–100 scale."""
    look = palette(metrics, order)
    s = summarize(metrics, ["setting"])
    s = s[s.metric.isin(scores)]
    hue_order = [k for k in look if k in set(s.setting)]
    rows = -(-len(hue_order) // 2)
    fig, axes = _figure(1, 1, 2.0 + 0.14 * rows)
    ax = axes[0, 0]
    sns.barplot(data=s, x="metric", y="mean", hue="setting", order=list(scores), hue_order=hue_order,
                palette=_colours(look), errorbar=None, ax=ax, edgecolor="white", linewidth=0.4, saturation=1,
                legend=False)
    for setting, bars in zip(hue_order, ax.containers):
        g = s[s.setting == setting].set_index("metric").reindex(list(scores))
        x = [b.get_x() + b.get_width() / 2 for b in bars]
        for b in bars:
            b.set_hatch(look[setting]["hatch"])
        ax.errorbar(x, g["mean"], yerr=[g["mean"] - g.ci_low, g.ci_high - g["mean"]], fmt="none", ecolor="black",
                    elinewidth=0.6)
    ax.set(ylim=(0, 100), ylabel="score (×100), 95 % interval", xlabel="")
    handles = [Patch(facecolor=look[k]["colour"], hatch=look[k]["hatch"], edgecolor="white") for k in hue_order]
    _legend_below(fig, handles, hue_order)
    _title(fig, title)
    _finish(fig, rows, title.count("\n") + 1 + len(title) // 62)
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
    fig, axes = _figure(1, 2, 2.4)
    panels = (("preservation_cost", "preservation cost tr(ΔC₀Δᵀ)"),
              ("relative_residual", "residual ‖ΔK − R‖ / ‖R‖"))
    for ax, (col, ylabel) in zip(axes[0], panels):
        d = diags[diags.setting.isin(labels)][["setting", col]].dropna().copy()
        d["x"] = d.setting.map({s: i for i, s in enumerate(labels)}) + _jitter(len(d), 0)
        floor = (d[col] <= RESIDUAL_FLOOR) if col == "relative_residual" else pd.Series(False, index=d.index)
        d["shown"] = d[col].where(~floor, RESIDUAL_FLOOR)
        sns.scatterplot(data=d[~floor], x="x", y="shown", hue="setting", palette=_colours(look), hue_order=labels,
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
    _letters(axes)
    _title(fig, title)
    _finish(fig, 0, 1 + len(title) // 62)
    return fig


def _segments(values: pd.Series) -> pd.Series:
    """A unit id that changes after each missing value: a line never bridges a gap."""
    return values.isna().cumsum()


def _dodged(x: pd.Series, k: int, n: int, log: bool, span: float) -> pd.Series:
    """Setting k of n beside the others at the same x: by a factor on a log axis, by a share
    of the axis on a linear one."""
    offset = (k - (n - 1) / 2)
    return x * 2 ** (0.08 * offset) if log else x + 0.022 * span * offset


def lines(ax, s: pd.DataFrame, x: str, metric: str, look: dict, xs, log: bool = True) -> None:
    """Mean and 95 % interval per setting at each measured x: seaborn's lines and markers at
    dodged positions, the intervals as error bars; a gap where a setting has no value."""
    g_all = s[s.metric == metric]
    present = [k for k in look if k in set(g_all.setting)]
    span = (max(xs) - min(xs)) if len(xs) else 1.0
    frames = []
    for k, setting in enumerate(present):
        g = g_all[g_all.setting == setting].set_index(x).reindex(xs).reset_index()
        g["setting"] = setting
        g["x_shown"] = _dodged(g[x].astype(float), k, len(present), log, span)
        g["unit"] = _segments(g["mean"])
        frames.append(g)
    if not frames:
        return
    d = pd.concat(frames, ignore_index=True)
    shown = d.dropna(subset=["mean"])
    sns.lineplot(data=shown, x="x_shown", y="mean", hue="setting", style="setting", units="unit", estimator=None,
                 hue_order=present, style_order=present, palette=_colours(look),
                 markers={k: look[k]["marker"] for k in present},
                 dashes={k: _dash(look[k]["linestyle"]) for k in present}, legend=False, ax=ax, sort=True)
    for setting in present:
        g = shown[shown.setting == setting]
        ax.errorbar(g.x_shown, g["mean"], yerr=[g["mean"] - g.ci_low, g.ci_high - g["mean"]], fmt="none",
                    ecolor=look[setting]["colour"], elinewidth=0.7)
    _range(ax, metric, g_all.ci_low.dropna())
    ax.set(ylabel=LABELS.get(metric, metric), xlabel="")


def _dash(linestyle: str):
    return {"-": "", "--": (4, 1.5), ":": (1, 1.2), "-.": (4, 1.2, 1, 1.2)}[linestyle]


def _setting_handles(look: dict, present) -> tuple[list, list]:
    handles = [Line2D([], [], color=look[k]["colour"], marker=look[k]["marker"], ls=look[k]["linestyle"])
               for k in present]
    return handles, list(present)


def _mark_refused(ax, refused: pd.DataFrame, look: dict, x: str = "batch_size") -> bool:
    """A refused solve as a dotted line in the setting's colour at its x (no value drawn);
    the legend says what it means. Returns whether any was drawn."""
    for _, r in refused.drop_duplicates(["setting", x]).iterrows():
        colour = look[r.setting]["colour"] if r.setting in look else "black"
        ax.axvline(r[x], color=colour, ls=":", lw=0.9)
    return len(refused) > 0


def _log2_axis(ax) -> None:
    ax.set_xscale("log", base=2)


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
    fig, axes = _figure(rows, 2, 1.25 * rows + 0.5, sharex=True)
    refused = refused_solves(diags)
    for ax, metric in zip(axes.flat, scores):
        lines(ax, s, "batch_size", metric, look, xs)
        _mark_refused(ax, refused, look)
        _log2_axis(ax)
    for ax in list(axes.flat)[len(scores):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("batch size")
    if len(scores) % 2:
        axes[-2, 1].xaxis.set_tick_params(labelbottom=True)
        axes[-2, 1].set_xlabel("batch size")
    handles, labels = _setting_handles(look, present)
    if len(refused):
        handles.append(Line2D([], [], color="0.3", ls=":"))
        labels.append("refused (singular), at its batch size")
    _letters(axes)
    _legend_below(fig, handles, labels)
    _title(fig, title)
    _finish(fig, -(-len(labels) // 2), 1 + len(title) // 62)
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
    fig, axes = _figure(2, 2, 3.9, sharex=True)
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
                     hue_order=present, style_order=present, palette=_colours(look),
                     markers={k: look[k]["marker"] for k in present},
                     dashes={k: _dash(look[k]["linestyle"]) for k in present}, legend=False, ax=ax)
    ax.set(yscale="log", ylabel="‖Δ‖ (median)")
    every_x = sorted(set(xs) | (set(cond.batch_size) if cond is not None and len(cond) else set()))
    for ax in axes.flat:
        _log2_axis(ax)
        if d_k:
            ax.axvline(d_k, color="0.5", ls="--", lw=0.7)
        if ax is not axes[1, 0]:
            _mark_refused(ax, refused, look)
        ax.set_xlim(min(every_x) / 1.4, max(every_x) * 1.4)
    for ax in axes[1]:
        ax.set_xlabel("batch size")
    handles, labels = _setting_handles(look, present)
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
        handles.append(Line2D([], [], color="0.3", ls=":"))
        labels.append("refused (singular), at its batch size")
    _letters(axes)
    _legend_below(fig, handles, labels)
    _title(fig, title)
    _finish(fig, -(-len(labels) // 2), 1 + len(title) // 62)
    return fig


@themed
def sequential_lines(metrics: pd.DataFrame, trajectory: pd.DataFrame, title: str, order=None):
    """Lifelong editing against the number of edits, 4 × 2: retention (ES, EM of a fixed
    sample of earlier edits), the batch just written (ES, PS, NS), with 95 % intervals,
    dodged; perplexity on held-out text (the unedited model's dashed), ‖W_t − W_0‖ and each
    batch's ‖Δ‖."""
    look = palette(metrics, order)
    present = [k for k in look if k in set(metrics.setting)]
    panels = [("retention", "ES"), ("retention", "EM"), ("batch", "ES"), ("batch", "PS"), ("batch", "NS")]
    fig, axes = _figure(4, 2, 5.6, sharex=True)
    flat = axes.flat
    xs = sorted(metrics.n_edits.dropna().unique())
    for ax, (scope, metric) in zip(flat, panels):
        s = summarize(metrics[(metrics.scope == scope) & (metrics.metric == metric)], ["setting", "n_edits"])
        lines(ax, s, "n_edits", metric, look, xs, log=False)
        ax.set_title(f"{metric}, {'earlier edits' if scope == 'retention' else 'the batch just written'}")
        ax.set_ylabel(metric)
    traj = trajectory[trajectory.setting.isin(look)]
    has_base = False
    for ax, col, label in ((flat[5], "perplexity", "perplexity (held-out)"), (flat[6], "weight_drift", "‖W_t − W_0‖"),
                           (flat[7], "update_norm", "‖Δ‖ of each batch")):
        if col not in traj or traj[col].dropna().empty:
            ax.set_visible(False)
            continue
        g = traj.dropna(subset=[col]).sort_values("n_edits")
        g = g[g.setting.isin(present)]
        sns.lineplot(data=g, x="n_edits", y=col, hue="setting", style="setting", estimator=None,
                     hue_order=present, style_order=present, palette=_colours(look),
                     markers={k: look[k]["marker"] for k in present},
                     dashes={k: _dash(look[k]["linestyle"]) for k in present}, legend=False, ax=ax)
        if col == "perplexity":
            base = traj.loc[traj.n_edits == 0, "perplexity"].dropna()
            if len(base):
                ax.axhline(base.iloc[0], color="0.5", ls="--", lw=0.8)
                has_base = True
        ax.set(ylabel="", ylim=(0, None))
        ax.set_title(label)
    refused = refused_solves(trajectory)
    _mark_refused(flat[6], refused, look, x="n_edits")
    if len(xs):
        span = max(xs) - min(xs) or 1
        for ax in axes.flat:
            ax.set_xlim(min(0, min(xs)) - 0.04 * span, max(xs) + 0.04 * span)
    for ax in axes[-1]:
        ax.set_xlabel("edits written")
    handles, labels = _setting_handles(look, present)
    if has_base:
        handles.append(Line2D([], [], color="0.5", ls="--", lw=0.8))
        labels.append("unedited model's perplexity")
    if len(refused):
        handles.append(Line2D([], [], color="0.3", ls=":"))
        labels.append("refused (singular)")
    _letters(axes)
    _legend_below(fig, handles, labels)
    _title(fig, title)
    _finish(fig, -(-len(labels) // 2), 1 + len(title) // 62)
    return fig


def _row_label(r) -> str:
    where = [f"B={int(r.batch_size)}"] if pd.notna(r.batch_size) else []
    where += [r.scope] if isinstance(r.scope, str) and r.scope else []
    return " · ".join([r.comparison, *where])


@themed
def differences(claims: pd.DataFrame, title: str):
    """Each comparison's paired difference A − B in S (or ES) and EM with its 95 % interval
    and a zero line: filled where the difference is resolved
    (:func:`~editlib.evaluation.statistics.verdict`), hollow where not; a refused solve is
    a cross at 0. Rows with one measurement (no interval) are left out. The panels share
    their rows: a comparison sits at the same height in each."""
    c = claims[claims.ci_low.notna() | (claims.verdict == "refused (singular)")]
    present = set(c.metric)
    metrics = [m for m in ("S" if "S" in present else "ES", "EM") if m in present]
    c = c[c.metric.isin(metrics)].assign(label=lambda d: [_row_label(r) for r in d.itertuples()])
    labels = list(dict.fromkeys(c.label))
    height = {label: len(labels) - 1 - i for i, label in enumerate(labels)}
    c = c.assign(y=c.label.map(height),
                 status=np.where(c.verdict.isin(["A > B", "A < B"]), "resolved: interval excludes 0, p < 0.05",
                                 np.where(c.verdict == "refused (singular)", "refused (singular)",
                                          "no difference resolved")))
    fig, axes = _figure(1, len(metrics), 0.9 + 0.17 * max(len(labels), 3), sharey=True)
    for ax, metric in zip(axes[0], metrics):
        g = c[c.metric == metric]
        shown = g[g.ci_low.notna()]
        ax.errorbar(shown.difference, shown.y, xerr=[shown.difference - shown.ci_low, shown.ci_high - shown.difference],
                    fmt="none", ecolor="black", elinewidth=0.7)
        kinds = (("resolved: interval excludes 0, p < 0.05", dict(color="black", marker="o")),
                 ("no difference resolved", dict(color="white", edgecolor="black", linewidth=0.7, marker="o")),
                 ("refused (singular)", dict(color="black", marker="X")))
        for status, kw in kinds:
            at = g[g.status == status].assign(difference=lambda d: d.difference.fillna(0))
            if len(at):
                sns.scatterplot(data=at, x="difference", y="y", s=14, zorder=3, legend=False, ax=ax, **kw)
        ax.axvline(0, color="0.5", lw=0.7)
        ax.set(xlabel=f"Δ{metric} (×100)", ylabel="")
    axes[0, 0].set_yticks(list(height.values()), list(height), fontsize=5.5)
    axes[0, 0].set_ylim(-0.7, len(labels) - 0.3)
    statuses = list(dict.fromkeys(c.status))
    style = {"resolved: interval excludes 0, p < 0.05": dict(marker="o", color="black", ls=""),
             "no difference resolved": dict(marker="o", markerfacecolor="white", color="black", ls=""),
             "refused (singular)": dict(marker="X", color="black", ls="")}
    handles = [Line2D([], [], **style[s]) for s in statuses]
    _letters(axes)
    _legend_below(fig, handles, statuses)
    _title(fig, title)
    _finish(fig, -(-len(statuses) // 2), 1 + len(title) // 62)
    return fig
