"""The one theme and palette of editlib's figures and what every figure shares: panels,
letters, titles, legends below the data, saving, dodged lines with editlib's intervals."""
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

SCORES = ["ES", "PS", "NS", "S"]
COLUMN_WIDTH = 3.3           # inches: one column of a two-column paper
_CB = sns.color_palette("colorblind").as_hex()
METHOD_COLOURS = {"unedited": _CB[7], "rome": _CB[0], "rome_original": _CB[9], "memit": _CB[1], "emmet": _CB[2],
                  "alphaedit": _CB[4], "encore": _CB[3]}
OTHER_COLOURS = [_CB[5], _CB[6], _CB[8]]          # the palette's colours no method takes
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


def colours_of(look: dict) -> dict:
    return {k: v["colour"] for k, v in look.items()}


# ------------------------------------------------------------------ figure plumbing


def new_figure(rows: int, cols: int, height: float, **kw):
    fig, axes = plt.subplots(rows, cols, figsize=(COLUMN_WIDTH, height), squeeze=False, **kw)
    return fig, axes


def letter_panels(axes) -> None:
    """Panel letters a, b, c, ... at the top left of each visible panel, before the panel's
    own title when it has one."""
    for letter, ax in zip("abcdefghij", [a for a in np.ravel(axes) if a.get_visible()]):
        text = ax.get_title()
        ax.set_title("")
        ax.set_title(rf"$\bf{{{letter}}}$  {text}" if text else rf"$\bf{{{letter}}}$", loc="left")


def suptitle(fig, text: str, width: int = 62) -> None:
    fig.suptitle(textwrap.fill(text.replace("95 %", "95\u00a0%"), width))


def legend_below(fig, handles, labels, ncol: int = 2) -> None:
    """One legend for the figure, below its panels (never over data)."""
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 0.0))


def finish(fig, title: str, axes=None, handles=(), labels=()) -> None:
    """What every figure ends with: its panels lettered (``axes``), the legend below them, the
    title above, and the panels laid out between the two."""
    if axes is not None:
        letter_panels(axes)
    if len(handles):
        legend_below(fig, handles, labels)
    suptitle(fig, title)
    rows = -(-len(labels) // 2) if len(handles) else 0
    bottom = min(0.45, (0.08 + 0.12 * rows) / fig.get_figheight()) if rows else 0.0
    fig.tight_layout(rect=(0, bottom, 1, 1), h_pad=0.5, w_pad=0.5)


REFUSED = {"color": "0.3", "ls": ":"}             # the line a refused solve is drawn as


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


def full_scale(ax, metric: str, values=()) -> None:
    """A rate on its whole 0–100 scale; a margin from −100 when any value is negative."""
    if metric in ("ES", "PS", "NS", "S"):
        ax.set_ylim(0, 100)
    elif metric in ("EM", "PM", "NM"):
        low = np.nanmin(values) if len(values) else 0
        ax.set_ylim(-100 if low < 0 else 0, 100)


# ------------------------------------------------------------------ marks


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
                 hue_order=present, style_order=present, palette=colours_of(look),
                 markers={k: look[k]["marker"] for k in present},
                 dashes={k: dashes(look[k]["linestyle"]) for k in present}, legend=False, ax=ax, sort=True)
    for setting in present:
        g = shown[shown.setting == setting]
        interval_bars(ax, g.x_shown, g.ci_low, g.ci_high, ecolor=look[setting]["colour"], elinewidth=0.7)
    full_scale(ax, metric, g_all.ci_low.dropna())
    ax.set(ylabel=LABELS.get(metric, metric), xlabel="")


def interval_bars(ax, at, low, high, horizontal: bool = False, **kw) -> None:
    """95 % intervals [low, high] as error bars at positions ``at``, drawn from their own ends:
    a bootstrap interval of a nonlinear statistic (S, a harmonic mean) need not contain the
    estimate, so the bars are not offsets from it."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    mid, half = (low + high) / 2, (high - low) / 2
    if horizontal:
        ax.errorbar(mid, at, xerr=half, fmt="none", **kw)
    else:
        ax.errorbar(at, mid, yerr=half, fmt="none", **kw)


def dashes(linestyle: str):
    return {"-": "", "--": (4, 1.5), ":": (1, 1.2), "-.": (4, 1.2, 1, 1.2)}[linestyle]


def setting_handles(look: dict, present) -> tuple[list, list]:
    handles = [Line2D([], [], color=look[k]["colour"], marker=look[k]["marker"], ls=look[k]["linestyle"])
               for k in present]
    return handles, list(present)


def mark_refused(ax, refused: pd.DataFrame, look: dict, x: str = "batch_size") -> bool:
    """A refused solve as a dotted line in the setting's colour at its x (no value drawn);
    the legend says what it means. Returns whether any was drawn."""
    for _, r in refused.drop_duplicates(["setting", x]).iterrows():
        colour = look[r.setting]["colour"] if r.setting in look else "black"
        ax.axvline(r[x], color=colour, ls=REFUSED["ls"], lw=0.9)
    return len(refused) > 0


def log2_axis(ax) -> None:
    ax.set_xscale("log", base=2)
