"""02 · Edit distribution: one layer or spread over several.

MEMIT spreads each fact's residual over a range of layers; the unified framework separates
this edit-distribution algorithm from the objective, so any objective is run either way.
The paper finds that spreading helps GPT-2 XL and GPT-J and hurts Llama-2-7b. Every
objective runs on the preset's single layer and spread over its MEMIT range, on single
edits, and the finding is read from the paired difference spread − single per objective.
"""
from __future__ import annotations

from . import plots
from .drivers import Setting, batch_edits
from .experiment import TINY_Z, Experiment, register

SEP = " · "


class Distribution(Experiment):
    key, name = "02", "02_edit_distribution"
    finding = "edit distribution: spread vs single layer"
    parameters = {"n_cases": 8, "edit_overrides": {}, "methods": ["memit", "emmet"], "modes": ["single", "spread"],
                  "generation": False, "gen_tokens": 40}
    profiles = {"tiny": {"n_cases": 2, "edit_overrides": TINY_Z},
                "paper": {"dataset": "counterfact_simple", "split": "eval", "n_cases": 200,
                          "methods": ["rome", "memit", "emmet"]}}
    claim_metrics = ("S", "ES", "PS", "NS", "EM")
    report_by = ("method", "mode")
    report_metrics = ("ES", "PS", "NS", "S", "EM", "NM")

    def settings(self, params):
        """Each objective in each mode (a preset's layer set or a list of layers), keyed
        ``"<method> · <mode>"``."""
        return [Setting(f"{m}{SEP}{mode}", m, mode, params["edit_overrides"], key=f"{m}{SEP}{mode}")
                for m in params["methods"] for mode in params["modes"]]

    def comparisons(self, settings):
        """spread − single, per objective."""
        by_key = {s.key: s for s in settings}
        pairs = [(f"{m}{SEP}spread", f"{m}{SEP}single") for m in dict.fromkeys(s.method for s in settings)]
        return [(by_key[a], by_key[b]) for a, b in pairs if a in by_key and b in by_key]

    def compute(self, ctx, settings):
        p = ctx.params
        metrics, diags = batch_edits(ctx.lm, ctx.tok, ctx.cases, settings, (1,), **ctx.run_args,
                                     generation=p["generation"], gen_tokens=p["gen_tokens"], journal=ctx.journal)
        return {"": metrics, "_diagnostics": diags}

    def across_models(self, first, second):
        """Finding (b)'s model dependence: (spread − single on the first model) − (spread −
        single on the second), per objective both ran, on S and EM; each model's cases
        resampled on their own (:func:`~editlib.evaluation.statistics.difference_of_differences`)."""
        from ..evaluation.statistics import difference_of_differences
        from .claims import row

        t1, t2 = first[""], second[""]
        m1, m2 = t1["model"].iloc[0], t2["model"].iloc[0]
        rows = []
        for method in dict.fromkeys(t1.method):
            a, b = f"{method}{SEP}spread", f"{method}{SEP}single"
            if not {a, b} <= set(t1.setting) & set(t2.setting):
                continue
            for metric in ("S", "EM"):
                result = difference_of_differences(t1[t1.setting == a], t1[t1.setting == b],
                                                   t2[t2.setting == a], t2[t2.setting == b], metric)
                effect = f"({a} − {b})"
                r = row(self, t1, m1, m2, metric, result, scope="across models")     # reading: "m1 > m2"
                rows.append({**r, "model": f"{m1} vs {m2}", "comparison": f"{effect}: {m1} − {m2}"})
        return rows

    def figures(self, tables, claims, settings=None):
        table, diags = tables[""], tables.get("_diagnostics")
        model, dataset, n = table["model"].iloc[0], table["dataset"].iloc[0], table["case_id"].nunique()
        sets = " vs ".join(diags.groupby("mode", sort=False)["layers"].first()) if diags is not None else ""
        return {"_scores": plots.score_bars(table, f"{model}: one layer or spread ({sets}), {n} {dataset} cases"),
                **self.differences(tables, claims)}

    def summary(self, claims):
        return claims[claims.metric.isin(["S", "EM"])]

    def show_tables(self, run):
        from IPython.display import display

        super().show_tables(run)
        cols = ["preservation_cost", "relative_residual", "update_norm"]
        display(run.tables["_diagnostics"].groupby(["setting", "layer"])[cols].median())


DISTRIBUTION = register(Distribution())
