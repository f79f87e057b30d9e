"""Sequential edits: retention, the batch just written and the model's drift against the edits written."""
from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from ...evaluation.statistics import summarize
from ..claims import refused_solves
from .style import (
    REFUSED,
    colours_of,
    dashes,
    finish,
    lines,
    mark_refused,
    new_figure,
    palette,
    setting_handles,
    themed,
)


@themed
def sequential_lines(metrics: pd.DataFrame, trajectory: pd.DataFrame, title: str, order=None):
    """Lifelong editing against the number of edits, 4 × 2: retention (ES, EM of a fixed
    sample of earlier edits), the batch just written (ES, PS, NS), with 95 % intervals,
    dodged; perplexity on held-out text (the unedited model's dashed), ‖W_t − W_0‖ and each
    batch's ‖Δ‖."""
    look = palette(metrics, order)
    present = [k for k in look if k in set(metrics.setting)]
    panels = [("retention", "ES"), ("retention", "EM"), ("batch", "ES"), ("batch", "PS"), ("batch", "NS")]
    fig, axes = new_figure(4, 2, 5.6, sharex=True)
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
                     hue_order=present, style_order=present, palette=colours_of(look),
                     markers={k: look[k]["marker"] for k in present},
                     dashes={k: dashes(look[k]["linestyle"]) for k in present}, legend=False, ax=ax)
        if col == "perplexity":
            base = traj.loc[traj.n_edits == 0, "perplexity"].dropna()
            if len(base):
                ax.axhline(base.iloc[0], color="0.5", ls="--", lw=0.8)
                has_base = True
        ax.set(ylabel="", ylim=(0, None))
        ax.set_title(label)
    refused = refused_solves(trajectory)
    mark_refused(flat[6], refused, look, x="n_edits")
    if len(xs):
        span = max(xs) - min(xs) or 1
        for ax in axes.flat:
            ax.set_xlim(min(0, min(xs)) - 0.04 * span, max(xs) + 0.04 * span)
    for ax in axes[-1]:
        ax.set_xlabel("edits written")
    handles, labels = setting_handles(look, present)
    if has_base:
        handles.append(Line2D([], [], color="0.5", ls="--", lw=0.8))
        labels.append("unedited model's perplexity")
    if len(refused):
        handles.append(Line2D([], [], **REFUSED))
        labels.append("refused (singular)")
    finish(fig, title, axes, handles, labels)
    return fig
