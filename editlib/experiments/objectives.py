"""01 · Equality vs least squares: ROME, MEMIT and EMMET on single edits.

The unified framework sees ROME and EMMET as the equality-constrained objective and MEMIT as
its least-squares relaxation; on single edits at one layer the paper finds ROME ≈ MEMIT.
Each case is edited alone (weights restored bit-exactly between cases), at one layer,
under each objective; ``rome_original`` is ROME as its authors wrote it.
"""
from __future__ import annotations

import pandas as pd

from . import plots
from .drivers import Setting, batch_edits, unedited
from .experiment import TINY_Z, Experiment, register

COMPARED = [("rome", "memit"), ("emmet", "memit"), ("rome", "emmet"), ("rome_original", "rome")]


class Objectives(Experiment):
    key, name = "01", "01_objectives"
    finding = "single edits: ROME vs MEMIT vs EMMET"
    parameters = {"n_cases": 8, "edit_overrides": {}, "methods": ["rome", "rome_original", "memit", "emmet"],
                  "layers": "single", "generation": 2, "gen_tokens": 20}
    profiles = {"tiny": {"n_cases": 2, "generation": False, "edit_overrides": TINY_Z},
                "paper": {"dataset": "counterfact_simple", "split": "eval", "n_cases": 200, "generation": 50,
                          "gen_tokens": 40}}
    claim_metrics = ("S", "ES", "PS", "NS", "EM")
    report_by = ("setting",)
    report_metrics = ("ES", "PS", "NS", "S", "EM", "NM", "GE")

    def settings(self, params):
        """One setting per objective, keyed and labelled by the method's name."""
        return [Setting(m, m, params["layers"], params["edit_overrides"], key=m) for m in params["methods"]]

    def compared(self):
        return COMPARED

    def compute(self, ctx, settings):
        p = ctx.params
        ctx.journal.expect(["unedited"])
        before = ctx.journal.run("unedited", lambda: unedited(ctx.lm, ctx.tok, ctx.cases, p["model"], p["dataset"],
                                                              p["seed"], generation=p["generation"],
                                                              gen_tokens=p["gen_tokens"]))
        after, diags = batch_edits(ctx.lm, ctx.tok, ctx.cases, settings, (1,), **ctx.run_args,
                                   generation=p["generation"], gen_tokens=p["gen_tokens"], journal=ctx.journal)
        return {"": pd.concat([before, after], ignore_index=True), "_diagnostics": diags}

    def figures(self, tables, claims, settings=None):
        table, diags = tables[""], tables["_diagnostics"]
        model, dataset, n = table["model"].iloc[0], table["dataset"].iloc[0], table["case_id"].nunique()
        layers = diags["layers"].iloc[0] if "layers" in diags else ""
        order = list(dict.fromkeys(table.setting))
        return {"_scores": plots.score_bars(table, f"{model}: single edits at layers {layers}, {n} {dataset} cases"),
                "_objective": plots.objective_view(diags, f"{model}: the objective per single edit (layers {layers})",
                                                   order=order),
                **self.differences(tables, claims)}

    def summary(self, claims):
        single = claims.comparison.isin([f"{a} − {b}" for a, b in COMPARED])
        return claims[single & ((claims.metric == "S") | ((claims.metric == "EM")
                                                          & (claims.comparison == "rome − memit")))]

    def show_tables(self, run):
        from IPython.display import display

        super().show_tables(run)
        cols = ["preservation_cost", "relative_residual", "update_norm", "z_loss", "edit_s"]
        display(run.tables["_diagnostics"].groupby("setting")[cols].median())


OBJECTIVES = register(Objectives())
