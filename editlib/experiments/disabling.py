"""06 · Disabling edits: does one ROME edit break the model, and is the cause ROME's keys?

*Rebuilding ROME* (Gupta, Baskaran, Anumanchipalli 2024) traces ROME's "disabling" edits —
one edit after which the model only repeats itself — to the authors' code using two keys:
the direction u = C0⁻¹k* from the key averaged over prefixed templates, the denominator
uᵀk from the bare prompt's key. Their r-ROME uses k* in both places. Here every fact is
edited alone (the weights restored bit for bit before the next), with

- ``rome_original`` ("original ROME"): ROME as its authors wrote it (both keys);
- ``r_rome`` ("r-ROME"): the same z, templates and key average, k* in both places;
- ``rome`` ("unified ROME"): editlib's unified ROME (k* in both places, the preset's z),

and after each edit: the scores, the relative update ‖ΔW‖_F/‖W‖_F, the generation entropy
(GE) on the case's generation prompts and the perplexity on held-out text (the WikiText-2
test windows of notebook 04's quick profile).

The rule that flags an edit as disabling was fixed before any result was seen
(:func:`disabling`): perplexity at least :data:`PERPLEXITY_FACTOR` × the unedited model's, or
GE below :data:`GE_FRACTION` × the unedited model's GE on the same prompts.
"""
from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

from ..engine.algebra.solvers import SingularSystemError
from ..engine.edit.methods import ROME_ORIGINAL
from ..evaluation.evaluate import evaluate
from ..evaluation.metrics.perplexity import heldout_windows, perplexity_of, window_losses
from ..evaluation.statistics import wilson
from . import plots
from .drivers import Setting, _diag_rows, _params, _requests
from .experiment import TINY_Z, Experiment, register

PERPLEXITY_FACTOR = 2.0        # disabling: held-out perplexity ≥ 2 × the unedited model's ...
GE_FRACTION = 2 / 3            # ... or GE < 2/3 of the unedited model's on the case's generation prompts
# per edit, beside the scores: the rule's flag (100 or 0), GE, held-out perplexity as a percentage of the
# unedited model's, and ‖ΔW‖_F/‖W‖_F × 100 over the weights written
MEASURES = ("disabling", "GE", "perplexity %", "ΔW %")


def disabling(perplexity_ratio: float, ge: float, ge_unedited: float) -> bool:
    """The pre-registered rule: an edit is disabling when the held-out perplexity after it
    is at least :data:`PERPLEXITY_FACTOR` times the unedited model's, or its GE on the
    case's generation prompts is below :data:`GE_FRACTION` of the unedited model's GE on
    the same prompts (same seed)."""
    return bool(perplexity_ratio >= PERPLEXITY_FACTOR or ge < GE_FRACTION * ge_unedited)


def _weight_norms(model, names) -> dict[str, float]:
    """‖W‖_F² of each named weight, as it is now (before the edit)."""
    return {n: float(model.get_submodule(n).weight.detach().double().norm() ** 2) for n in names}


def _unedited(model, tok, cases, windows, gen_tokens, seed, base) -> tuple[pd.DataFrame, float]:
    """The unedited scores with GE on every case (and the measures an edit is read on, at
    their unedited values), and the held-out perplexity."""
    params = {**base, "setting": "unedited", "method": "none", "mode": "none", "layers": "[]", "hparams": "{}"}
    before = evaluate(model, tok, cases, generation=True, gen_tokens=gen_tokens, seed=seed, params=params)
    ge = before[before.metric == "GE"]                 # the rule read on the unedited model itself: never disabling
    same = [ge.assign(metric=name, value=value) for name, value in
            (("perplexity %", 100.0), ("ΔW %", 0.0), ("disabling", 0.0))]
    return pd.concat([before, *same], ignore_index=True), perplexity_of(*window_losses(model, tok, windows))


def _edit_unit(editor, params, model, tok, case, req, windows, gen_tokens, seed, norms, ppl0, ge0):
    """One fact written, scored, measured and flagged, the weights restored: (metrics rows or
    None, diagnostics rows); a refused solve is a diagnostics row with its error."""
    try:
        with editor.edited([req]) as result:
            m = evaluate(model, tok, [case], generation=True, gen_tokens=gen_tokens, seed=seed, params=params)
            ppl = perplexity_of(*window_losses(model, tok, windows))
    except SingularSystemError as e:
        return None, [{**params, "error": str(e), "case_ids": str([case["case_id"]])}]
    delta = sum(float(d.double().norm() ** 2) for d in result.deltas.values())
    w = sum(norms[n] for n in result.deltas)
    ge = float(m.loc[m.metric == "GE", "value"].iloc[0])
    measured = {"perplexity %": 100 * ppl / ppl0, "ΔW %": 100 * (delta / w) ** 0.5,
                "disabling": 100.0 * disabling(ppl / ppl0, ge, ge0)}
    extra = m[m.metric == "GE"].iloc[[0] * len(measured)].assign(metric=list(measured), value=list(measured.values()))
    diags = [{**d, "perplexity": ppl} for d in _diag_rows(result, params, [case["case_id"]], 1)]
    return pd.concat([m, extra], ignore_index=True), diags


def independent_edits(model, tok, cases, settings: list[Setting], model_name: str = "", dataset: str = "",
                      seed: int = 0, ppl_tokens: int = 2048, gen_tokens: int = 40, preset: str | None = None,
                      journal=None):
    """Each case edited alone under each setting, the model restored bit for bit before the
    next, and after each edit its scores, GE on the case's generation prompts, the held-out
    perplexity as a percentage of the unedited model's (``perplexity %``), ‖ΔW‖_F/‖W‖_F × 100 over
    the weights written (``ΔW %``) and the rule's flag (``disabling``: 100 or 0). ``journal``: the
    unedited measures and each setting × case are units. Returns (metrics, diagnostics)."""
    from .journal import NoJournal

    journal = journal or NoJournal()
    reqs = _requests(cases)
    windows, text = heldout_windows(tok, model, n_tokens=ppl_tokens, seed=seed)
    base = {"model": model_name, "dataset": dataset, "seed": seed}
    units = {s.key: {f"{s.key} · {c['case_id']}": i for i, c in enumerate(cases)} for s in settings}
    journal.expect(["unedited"] + [u for per in units.values() for u in per])
    before, ppl0 = journal.run("unedited", lambda: _unedited(model, tok, cases, windows, gen_tokens, seed, base))
    ge0 = before[before.metric == "GE"].set_index("case_id").value
    stamp = {"heldout": text, "unedited_perplexity": ppl0}
    metrics, diags = [before.assign(**stamp)], []
    bar = tqdm(total=len(cases) * len(settings), desc="single edits", unit="edit")
    for s in settings:
        left = [u for u in units[s.key] if not journal.done(u)]
        editor = params = norms = None                  # needed only for the units left to do
        if left:
            editor = s.editor(model, tok, preset)
            editor.progress = True                      # statistics and z take minutes: show them
            editor.targets([reqs[units[s.key][u]] for u in left])
            editor.progress = False
            params = _params(model_name, editor, s, seed, dataset)
            norms = _weight_norms(model, [editor.arch.name("rewrite", l) for l in editor.hparams.layers])
        for unit, i in units[s.key].items():
            bar.update(1)
            m, d = journal.run(unit, lambda i=i, editor=editor, params=params, norms=norms: _edit_unit(
                editor, params, model, tok, cases[i], reqs[i], windows, gen_tokens, seed, norms, ppl0,
                ge0[cases[i]["case_id"]]))
            if m is not None:
                metrics.append(m.assign(**stamp))
            diags += d
    bar.close()
    return pd.concat(metrics, ignore_index=True), pd.DataFrame(diags)


def disabling_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting: the disabling edits (k of n, the rate with its Wilson 95 % interval), by
    which part of the rule, and the median and largest ΔW % and perplexity %."""
    rows = []
    for setting, g in table[table.setting != "unedited"].groupby("setting", sort=False):
        wide = g.pivot_table(index="case_id", columns="metric", values="value")
        k, n = int((wide["disabling"] > 0).sum()), len(wide)
        lo, hi = wilson(k, n)
        by_ppl = int((wide["perplexity %"] >= 100 * PERPLEXITY_FACTOR).sum())
        rows.append({"setting": setting, "disabling": f"{k} of {n}",
                     "rate (95 % interval)": f"{100 * k / n:.1f} [{lo:.1f}, {hi:.1f}]",
                     "by perplexity": by_ppl, "by GE only": k - by_ppl,
                     "median ΔW %": f"{wide['ΔW %'].median():.3g}", "largest ΔW %": f"{wide['ΔW %'].max():.3g}",
                     "median perplexity %": f"{wide['perplexity %'].median():.1f}",
                     "largest perplexity %": f"{wide['perplexity %'].max():.4g}"})
    return pd.DataFrame(rows).set_index("setting")


class Disabling(Experiment):
    key, name = "06", "06_disabling_edits"
    finding = "disabling edits: ROME's two keys"
    catalogue = {"rome_original": Setting("original ROME", "rome_original", key="rome_original"),
                 "r_rome": Setting("r-ROME", "rome", overrides=dict(ROME_ORIGINAL), key="r_rome"),
                 "rome": Setting("unified ROME", "rome", key="rome")}
    parameters = {"n_cases": 8, "edit_overrides": {}, "settings": ["rome_original", "r_rome", "rome"],
                  "layers": "single", "ppl_tokens": 2048, "gen_tokens": 20}
    profiles = {"tiny": {"n_cases": 2, "ppl_tokens": 256, "gen_tokens": 5, "edit_overrides": TINY_Z},
                "paper": {"dataset": "counterfact_simple", "split": "eval", "n_cases": 500, "gen_tokens": 40}}
    claim_metrics = MEASURES + ("ES", "NS")
    difference_metrics = ("disabling", "ΔW %", "perplexity %")
    report_by = ("setting",)
    report_metrics = ("ES", "PS", "NS", "GE", "perplexity %", "ΔW %", "disabling")

    def show_tables(self, run):
        from IPython.display import display

        from ..evaluation.statistics import interval_table

        display(interval_table(run.tables[""], list(self.report_by), self.report_metrics))
        display(disabling_counts(run.tables[""]))

    def compared(self):
        return [("rome_original", "r_rome"), ("rome_original", "rome"), ("r_rome", "rome")]

    def compute(self, ctx, settings):
        p = ctx.params
        metrics, diags = independent_edits(ctx.lm, ctx.tok, ctx.cases, settings, **ctx.run_args,
                                           ppl_tokens=p["ppl_tokens"], gen_tokens=p["gen_tokens"],
                                           journal=ctx.journal)
        return {"": metrics, "_diagnostics": diags}

    def figures(self, tables, claims, settings=None):
        table = tables[""]
        model, dataset, n = table["model"].iloc[0], table["dataset"].iloc[0], table["case_id"].nunique()
        return {"_scatter": plots.disabling_scatter(
                    table, PERPLEXITY_FACTOR, GE_FRACTION,
                    f"{model}: {n} {dataset} facts, each edited alone; ‖ΔW‖/‖W‖ against GE and perplexity"),
                **self.differences(tables, claims)}

    def report_extras(self, tables):
        return [("disabling edits (perplexity ≥ 2× unedited, or GE < 2/3 of unedited)",
                 disabling_counts(tables[""]))]

    def summary(self, claims):
        return claims[claims.metric.isin(["disabling", "ΔW %"])]


DISABLING = register(Disabling())

__all__ = ["DISABLING", "Disabling", "disabling", "disabling_counts", "independent_edits", "PERPLEXITY_FACTOR",
           "GE_FRACTION"]
