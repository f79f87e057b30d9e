"""03 · EMMET vs MEMIT as the batch grows.

EMMET imposes every edit as an equality constraint; MEMIT asks for them in least squares.
The paper finds EMMET on par with MEMIT up to batch ≈ 256 and degrading beyond; a ridge μ on
Kᵀ C₀⁻¹ K restores large batches. Cases are edited in consecutive batches of each size (the
model restored between batches); each batch is written whole and a fixed sample of its facts
(``scored``) is scored, so every size is scored on as many facts. The mechanism: Kᵀ C₀⁻¹ K
has rank ≤ d_k, so past the key width μ = 0 is singular; its condition number, from keys
alone, reaches past the largest batch edited.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.statistics import paired_difference
from . import plots
from .claims import refused_solves, row
from .drivers import Setting, batch_edits, key_conditioning
from .experiment import LIGHT_Z, PAPER_BATCHES, TINY_Z, Experiment, register

REFUSED = {"n": 0, "a_mean": np.nan, "b_mean": np.nan, "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "interval": "none", "p_value": np.nan, "verdict": "refused (singular)"}


def _batches_to(last: int) -> list[int]:
    return [b for b in PAPER_BATCHES if b <= last]


def _refused(diags: pd.DataFrame | None, setting: str, batch_size) -> str | None:
    hit = refused_solves(diags)
    hit = hit[(hit.setting == setting) & (hit.batch_size == batch_size)]
    return str(hit.error.iloc[0]) if len(hit) else None


class BatchSize(Experiment):
    key, name = "03", "03_emmet_batch_size"
    finding = "EMMET vs MEMIT as the batch grows"
    catalogue = {"memit": Setting("MEMIT", "memit", key="memit"),
                 "emmet_ridge": Setting("EMMET (ridge μ)", "emmet", key="emmet_ridge"),
                 "emmet_mu0": Setting("EMMET (μ = 0)", "emmet", overrides={"mu": 0.0}, key="emmet_mu0")}
    parameters = {"n_cases": 32, "edit_overrides": LIGHT_Z, "batch_sizes": [1, 4, 16, 32], "scored": 12,
                  "settings": ["memit", "emmet_ridge", "emmet_mu0"], "layers": "single",
                  "cond_batch_sizes": [1, 4, 16, 64, 256, 1024, 1536, 2048, 2560], "cond_mus": [0.0, 0.01, 0.1]}
    profiles = {"tiny": {"n_cases": 2, "batch_sizes": [1, 2], "cond_batch_sizes": [1, 2, 4], "edit_overrides": TINY_Z},
                "paper": {"dataset": "counterfact_simple", "split": "eval", "n_cases": 3072,
                          "batch_sizes": _batches_to(3072), "scored": 64, "edit_overrides": LIGHT_Z,
                          "cond_batch_sizes": [1, 16, 64, 256, 512, 1024, 1536, 2048, 3072, 4096]}}
    # SmolLM2's d_k is 1536: batches to 2048 pass it and save a third of its z time
    model_profiles = {"paper": {"smollm2-135m": {"n_cases": 2048, "batch_sizes": _batches_to(2048)}}}
    side_tables = ("_diagnostics", "_conditioning")
    claim_metrics = ("S", "EM")
    report_by = ("setting", "batch_size")
    report_metrics = ("S", "EM", "NS")

    def compared(self):
        return [("emmet_mu0", "memit"), ("emmet_ridge", "memit")]

    def grid(self, params):
        return {"batch_size": set(params["batch_sizes"])}

    def compute(self, ctx, settings):
        from ..evaluation.data import load_cases

        p = ctx.params
        ctx.journal.expect(["conditioning"])
        metrics, diags = batch_edits(ctx.lm, ctx.tok, ctx.cases, settings, p["batch_sizes"], **ctx.run_args,
                                     scored=p["scored"], journal=ctx.journal)
        layer = int(diags["layer"].dropna().iloc[-1])
        cond_cases = load_cases(p["dataset"], n=max(p["cond_batch_sizes"]), seed=p["seed"], split=p["split"])
        cond = ctx.journal.run("conditioning", lambda: key_conditioning(
            ctx.lm, ctx.tok, cond_cases, layer, p["cond_batch_sizes"], p["cond_mus"], model_name=p["model"],
            overrides=p["edit_overrides"]))
        return {"": metrics, "_diagnostics": diags, "_conditioning": cond}

    def pair_claims(self, tables, a, b):
        """A − B at each batch size over the same scored facts (a refused solve on either side
        is said so)."""
        table, diags, cond = tables[""], tables.get("_diagnostics"), tables.get("_conditioning")
        d_k = int(cond["d_k"].iloc[0]) if cond is not None and "d_k" in cond else np.nan
        rows = []
        for size in sorted(table.batch_size.dropna().unique()):
            at = table[table.batch_size == size]
            for metric in self.claim_metrics:
                if _refused(diags, a, size) or _refused(diags, b, size):
                    result = dict(REFUSED)
                else:
                    result = paired_difference(at[at.setting == a], at[at.setting == b], metric)
                rows.append(row(self, table, a, b, metric, result, batch_size=int(size), d_k=d_k))
        return rows

    def after_adjusting(self, claims):
        """On every row of a pair and metric: the smallest batch where it resolves either way,
        and finding (c)'s onset, the smallest batch where A falls below B (``first_below_batch``),
        also as a fraction of the key width d_k (``first_below_over_d_k``)."""
        if not len(claims):
            return claims
        keys = pd.MultiIndex.from_frame(claims[["comparison", "metric"]])

        def first(verdicts):
            at = claims[claims.verdict.isin(verdicts)].groupby(["comparison", "metric"]).batch_size.min()
            return at.reindex(keys).to_numpy()
        claims = claims.assign(first_resolved_batch=first(["A > B", "A < B"]), first_below_batch=first(["A < B"]))
        if "d_k" in claims:
            claims = claims.assign(first_below_over_d_k=claims.first_below_batch / claims.d_k)
        return claims

    def figures(self, tables, claims, settings=None):
        table, diags, cond = tables[""], tables.get("_diagnostics"), tables.get("_conditioning")
        model, dataset = table["model"].iloc[0], table["dataset"].iloc[0]
        d_k = int(cond["d_k"].iloc[0]) if cond is not None and "d_k" in cond else None
        layer = int(diags["layer"].dropna().iloc[-1]) if diags is not None and "layer" in diags else ""
        scored = table.groupby("batch_size").case_id.nunique().min()
        return {"_mechanism": plots.batch_mechanism(table, diags, cond, d_k,
                                                    title=f"{model}: batch editing at layer {layer}, {dataset} "
                                                          f"facts, {scored} scored per batch size"),
                "_scores": plots.batch_lines(table, f"{model}: every metric against the batch (layer {layer})",
                                             diags=diags),
                **self.differences(tables, claims)}

    def summary(self, claims):
        """S: the batch where each pair's difference first resolves, the largest batch it was
        solved at, and any refused solve."""
        out = []
        batch = claims[claims.metric == "S"]
        for _, g in batch.groupby(["model", "profile", "comparison"], sort=False):
            solved = g[g.verdict != "refused (singular)"]
            picked = {solved.batch_size.max(), g.first_resolved_batch.iloc[0]}
            out.append(g[g.batch_size.isin(picked) | (g.verdict == "refused (singular)")])
        return pd.concat(out) if out else claims.iloc[:0]

    def show_tables(self, run):
        from IPython.display import display

        super().show_tables(run)
        diags, cond = run.tables["_diagnostics"], run.tables["_conditioning"]
        refused = refused_solves(diags)
        display(refused[["setting", "batch_size", "error"]] if len(refused) else "every solve succeeded")
        display(cond.pivot_table(index="batch_size", columns="mu", values="condition_number"))
        display(diags.dropna(subset=["condition_number"]).groupby(["setting", "batch_size"])[
            ["condition_number", "relative_residual", "update_norm"]].median())


BATCH_SIZE = register(BatchSize())
