"""04 · Sequential (lifelong) editing: batch after batch written into the same model.

z, the keys and every solve of a batch are computed on the model as edited so far. After
each batch: the batch just written (ES, PS, NS), a fixed sample of the earlier edits
(retention) and, every few batches, perplexity on held-out text, GE and ‖W_t − W₀‖.
Settings: MEMIT, EMMET with its ridge, EMMET keeping earlier edits' keys in its preserved
term, AlphaEdit's null-space projection (Fang et al. 2025) and ENCORE (Gupta et al. 2025:
MEMIT with earlier keys, a norm constraint and most-probable early stopping of z).
Perplexity is kept per held-out window (``_windows``), so that it is paired like the scores.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.statistics import interval_table, paired_difference
from . import plots
from .claims import ONE_MEASUREMENT, row
from .drivers import Setting, sequential_edits, window_table
from .experiment import LIGHT_Z, TINY_Z, Experiment, register


def after_last_batch(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["n_edits"] == table["n_edits"].max()]


def sequential_summary(table: pd.DataFrame, trajectory: pd.DataFrame) -> pd.DataFrame:
    """Notebook 04 after its last batch, per setting: retention ES and EM (mean [95 %
    interval]), perplexity (its ratio to the unedited model's), ‖W_t − W_0‖, and ‖ΔK_p‖² of
    the last batch (how far it moved the keys of the edits before it)."""
    last = after_last_batch(table)
    kept = interval_table(last[last.scope == "retention"], ["setting"], ("ES", "EM"))
    end = trajectory.sort_values("n_edits").groupby("setting").last()
    base = trajectory.loc[trajectory.n_edits == 0, "perplexity"].dropna()
    ppl = end["perplexity"].map(lambda v: f"{v:.2f} ({v / base.iloc[0]:.3f}×)" if len(base) else f"{v:.2f}")
    out = pd.DataFrame({"retention ES": kept["ES"], "retention EM": kept["EM"], "perplexity": ppl,
                        "‖W_t − W_0‖": end["weight_drift"].map(lambda v: f"{v:.1f}")})
    if "preserved_edits_cost" in end:
        out["‖ΔK_p‖², last batch"] = end["preserved_edits_cost"].map(lambda v: f"{v:.3g}")
    order = list(dict.fromkeys(table.setting))
    return out.reindex([o for o in order if o in out.index]).rename_axis("setting")


class Sequential(Experiment):
    key, name = "04", "04_sequential_editing"
    finding = "sequential editing: AlphaEdit vs MEMIT/EMMET"
    catalogue = {"memit": Setting("MEMIT", "memit", key="memit"),
                 "emmet_ridge": Setting("EMMET (ridge μ)", "emmet", key="emmet_ridge"),
                 "emmet_preserved": Setting("EMMET + preserved edits", "emmet", overrides={"preserve_edits": 1.0},
                                            key="emmet_preserved"),
                 "alphaedit": Setting("AlphaEdit", "alphaedit", key="alphaedit"),
                 "encore": Setting("ENCORE", "encore", key="encore")}
    parameters = {"batch_size": 8, "n_batches": 3, "scored": 8, "retention": 12, "retention_every": 1,
                  "ability_every": 3, "ppl_tokens": 2048, "ge_cases": 2, "gen_tokens": 20,
                  "edit_overrides": {**LIGHT_Z, "compute_dtype": "auto"},
                  "settings": ["memit", "emmet_ridge", "emmet_preserved", "alphaedit", "encore"], "layers": "single"}
    profiles = {"tiny": {"batch_size": 2, "n_batches": 2, "scored": 2, "retention": 2, "ability_every": 1,
                         "ppl_tokens": 256, "ge_cases": 1, "gen_tokens": 5,
                         "edit_overrides": {**TINY_Z, "context_template_lengths": [[10, 1]]}},
                "paper": {"dataset": "counterfact_simple", "split": "eval", "batch_size": 100, "n_batches": 30,
                          "scored": 32, "retention": 128, "ability_every": 5, "retention_every": 1,
                          "ppl_tokens": 16384, "ge_cases": 32, "gen_tokens": 40,
                          "edit_overrides": LIGHT_Z}}            # z in float32 on the GPU
    side_tables = ("_trajectory", "_windows")
    claim_metrics = ("ES", "EM", "NS")
    report_by = ("setting", "scope")
    report_metrics = ("ES", "PS", "NS", "EM", "NM")

    def cases_needed(self, params):
        return params["batch_size"] * params["n_batches"]

    def grid(self, params):
        return {"n_edits": {params["batch_size"] * k for k in range(1, params["n_batches"] + 1)}}

    def compared(self):
        return [("alphaedit", "memit"), ("alphaedit", "emmet_ridge"), ("emmet_preserved", "emmet_ridge"),
                ("encore", "memit"), ("encore", "alphaedit")]

    def compute(self, ctx, settings):
        p = ctx.params
        metrics, trajectory = sequential_edits(
            ctx.lm, ctx.tok, ctx.cases, settings, p["batch_size"], p["n_batches"], model_name=p["model"],
            dataset=p["dataset"], seed=p["seed"], retention=p["retention"], ability_every=p["ability_every"],
            ppl_tokens=p["ppl_tokens"], ge_cases=p["ge_cases"], gen_tokens=p["gen_tokens"], scored=p["scored"],
            retention_every=p["retention_every"], journal=ctx.journal)
        return {"": metrics, "_trajectory": trajectory.drop(columns=["window_nll"], errors="ignore"),
                "_windows": window_table(trajectory)}

    def pair_claims(self, tables, a, b):
        """After the last batch: retention (ES, EM, NS) and the last batch's ES paired over the
        same facts; the held-out windows' NLL (log-perplexity) paired over the same windows;
        perplexity / unedited and ‖W_t − W_0‖ as one measurement each."""
        table, trajectory = tables[""], tables.get("_trajectory")
        rows = []
        last = table.n_edits.max()
        end = table[table.n_edits == last]
        for scope, metrics in (("retention", self.claim_metrics), ("batch", ("ES",))):
            at = end[end.scope == scope]
            for metric in metrics:
                rows.append(row(self, table, a, b, metric,
                                paired_difference(at[at.setting == a], at[at.setting == b], metric),
                                scope=scope, n_edits=int(last)))
        windows = tables.get("_windows")
        if windows is not None and len(windows):
            w_end = windows[windows.n_edits == windows.n_edits.max()]
            if {a, b} <= set(w_end.setting):          # (a sequence refused part-way has no last windows)
                rows.append(row(self, table, a, b, "window NLL",
                                paired_difference(w_end[w_end.setting == a], w_end[w_end.setting == b],
                                                  "window NLL"), scope="model", n_edits=int(last)))
        if trajectory is not None:
            base = trajectory.loc[trajectory.n_edits == 0, "perplexity"].dropna()
            final = trajectory.sort_values("n_edits").groupby("setting").last()
            measures = {"perplexity / unedited": final["perplexity"] / (base.iloc[0] if len(base) else np.nan),
                        "‖W_t − W_0‖": final["weight_drift"]}
            for name, values in measures.items():
                if a in values and b in values:
                    va, vb = float(values[a]), float(values[b])
                    result = {"n": 1, "a_mean": va, "b_mean": vb, "difference": va - vb, "ci_low": np.nan,
                              "ci_high": np.nan, "interval": "none", "p_value": np.nan, "verdict": ONE_MEASUREMENT}
                    rows.append(row(self, table, a, b, name, result, scope="model", n_edits=int(last)))
        return rows

    def figures(self, tables, claims, settings=None):
        table = tables[""]
        model, dataset = table["model"].iloc[0], table["dataset"].iloc[0]
        size = int(table["batch_size"].iloc[0])
        return {"_curves": plots.sequential_lines(table, tables["_trajectory"],
                                                  f"{model}: {int(table.n_edits.max()) // size} batches of {size} "
                                                  f"written one after another ({dataset} facts)"),
                **self.differences(tables, claims)}

    def report_rows(self, table):
        return after_last_batch(table)

    def report_extras(self, tables):
        trajectory = tables.get("_trajectory")
        if trajectory is None or "perplexity" not in trajectory:
            return []
        return [("after the last batch", sequential_summary(tables[""], trajectory))]

    def summary(self, claims):
        """ES, perplexity and drift of AlphaEdit against MEMIT; the preserved-edits term's
        retention against plain EMMET; ENCORE's retention and held-out NLL against MEMIT."""
        labels = {k: s.label for k, s in self.catalogue.items()}
        alpha = f"{labels['alphaedit']} − {labels['memit']}"
        kept = f"{labels['emmet_preserved']} − {labels['emmet_ridge']}"
        encore = f"{labels['encore']} − {labels['memit']}"
        retained = (claims.scope == "retention") & claims.metric.isin(["ES", "EM"])
        return claims[((claims.comparison == alpha) & ((claims.scope == "model") | (claims.metric == "ES")))
                      | ((claims.comparison == kept) & retained)
                      | ((claims.comparison == encore) & (retained | (claims.metric == "window NLL")))]

    def show_tables(self, run):
        from IPython.display import display

        metrics, trajectory = run.tables[""], run.tables["_trajectory"]
        print(f"after {metrics.n_edits.max()} edits — the batch just written, and the retention sample:")
        display(interval_table(after_last_batch(metrics), ["setting", "scope"]))
        cols = [c for c in ["setting", "n_edits", "perplexity", "GE", "weight_drift", "update_norm",
                            "preservation_cost", "preserved_edits_cost", "projection_rank", "error"] if c in trajectory]
        display(trajectory[cols].round(3))
        display(interval_table(metrics[metrics.scope == "retention"], ["setting", "n_edits"],
                               metrics=("ES", "EM", "NS")))


SEQUENTIAL = register(Sequential())
