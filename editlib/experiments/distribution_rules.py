"""05 · Edit distribution rules: is the paper's model dependence a property of the rule?

The unified framework separates the edit-distribution algorithm from the objective, and
finds that MEMIT's spreading helps GPT-2 XL and GPT-J but hurts Llama-2-7b. This notebook
holds the objective fixed and varies the rule (:mod:`editlib.engine.algebra.distribute`):
MEMIT's, equal shares, the preservation-optimal joint solve, and the joint solve with the
keys recomputed between rounds, over windows of 1 to n layers that end at the top of the
preset's MEMIT range (where z is taken). Each objective also runs on the preset's single
layer, the reference of notebook 02's finding. Single edits, the same cases everywhere.

Claims: each rule against MEMIT's at the same window, and each window against the single
layer (spread − single, as notebook 02 reads it).
"""
from __future__ import annotations

import pandas as pd

from ..base.errors import HyperparameterError
from . import plots
from .drivers import Setting, batch_edits
from .experiment import TINY_Z, Experiment, register

SEP = " · "
SINGLE = "single"
RULE_NAMES = ("memit", "uniform", "optimal", "optimal_recompute")


def label(method: str, rule: str | None = None, n: int | None = None) -> str:
    """``rome · single``, ``rome · 1L`` (one layer: every rule is the same edit) or ``rome · optimal · 3L``."""
    if n is None:
        return f"{method}{SEP}{SINGLE}"
    return f"{method}{SEP}{n}L" if n == 1 else f"{method}{SEP}{rule}{SEP}{n}L"


def parts(text: str) -> tuple[str, str | None, int | None]:
    """(method, rule, layers in the window) of a label: rule "single" for the single layer,
    None for a one-layer window."""
    bits = text.split(SEP)
    if bits[-1] == SINGLE:
        return bits[0], SINGLE, None
    n = int(bits[-1].rstrip("L"))
    return bits[0], (bits[1] if len(bits) == 3 else None), n


def windows_of(model: str, windows) -> dict[int, list[int]]:
    """Each window's layers: n → the last n layers of the preset's MEMIT range."""
    from ..engine.edit.presets import load_preset

    spread = load_preset(model).layers_spread
    out = {}
    for n in windows:
        if not isinstance(n, int) or not 1 <= n <= len(spread):
            raise HyperparameterError(f"windows: {n!r} is not a number of layers from 1 to {len(spread)} "
                                      f"(the preset's MEMIT range {spread})")
        out[n] = spread[-n:]
    return out


def described(labels: pd.Series) -> dict:
    """Columns ``method``, ``rule`` ("single"; "any" for a one-layer window) and ``window``
    (layers; 0 for the single layer) of a column of labels."""
    p = [parts(x) for x in labels]
    return {"method": [m for m, _, _ in p], "rule": [r or "any" for _, r, _ in p],
            "window": [n or 0 for _, _, n in p]}


class DistributionRules(Experiment):
    key, name = "05", "05_distribution_rules"
    finding = "edit distribution rules: which rule, how many layers"
    parameters = {"n_cases": 8, "edit_overrides": {}, "methods": ["rome", "memit"], "rules": list(RULE_NAMES),
                  "windows": [1, 3, 5], "distribution_rounds": 2}
    profiles = {"tiny": {"n_cases": 2, "edit_overrides": TINY_Z, "windows": [1, 2], "rules": ["memit", "optimal"]},
                "paper": {"dataset": "counterfact_simple", "split": "eval", "n_cases": 200, "windows": [1, 5]}}
    claim_metrics = ("S", "ES", "PS", "NS", "EM")
    report_by = ("method", "setting")
    report_metrics = ("ES", "PS", "NS", "S", "EM", "NM")

    def settings(self, params):
        """Per objective: the single layer, then each window under each rule (one setting for
        a one-layer window, where the rules coincide)."""
        for rule in params["rules"]:
            if rule not in RULE_NAMES:
                raise HyperparameterError(f"rules: unknown rule {rule!r}; choose from {', '.join(RULE_NAMES)}")
        windows = windows_of(params["model"], params["windows"])
        base = {**params["edit_overrides"], "distribution_rounds": params["distribution_rounds"]}
        out = []
        for m in params["methods"]:
            out.append(Setting(label(m), m, SINGLE, params["edit_overrides"]))
            for n, layers in windows.items():
                for rule in (params["rules"][:1] if n == 1 else params["rules"]):
                    out.append(Setting(label(m, rule, n), m, layers, {**base, "distribution": rule}))
        return out

    def comparisons(self, settings):
        """Per objective and window: each rule − MEMIT's rule; each window − the single layer."""
        by_key = {s.key: s for s in settings}
        pairs = []
        for s in settings:
            method, rule, n = parts(s.key)
            if rule not in (SINGLE, "memit") and n not in (None, 1):
                pairs.append((s.key, label(method, "memit", n)))
        for s in settings:
            method, rule, n = parts(s.key)
            if rule != SINGLE:
                pairs.append((s.key, label(method)))
        return [(by_key[a], by_key[b]) for a, b in pairs if a in by_key and b in by_key]

    def compute(self, ctx, settings):
        metrics, diags = batch_edits(ctx.lm, ctx.tok, ctx.cases, settings, (1,), **ctx.run_args, journal=ctx.journal)
        return {"": metrics, "_diagnostics": diags.assign(**described(diags.setting))}

    def figures(self, tables, claims, settings=None):
        table, diags = tables[""], tables["_diagnostics"]
        model, dataset, n = table["model"].iloc[0], table["dataset"].iloc[0], table["case_id"].nunique()
        single = diags[diags.rule == SINGLE].groupby("method")["layer"].first().to_dict()
        where = ", ".join(f"{m} at layer {int(l)}" for m, l in single.items())
        vs_single = claims[claims.b.map(lambda b: parts(b)[1] == SINGLE)] if len(claims) else claims
        vs_single = vs_single.assign(**described(vs_single.a)) if len(vs_single) else vs_single
        out = {"_windows": plots.window_differences(vs_single, f"{model}: spread − single layer ({where}) by the "
                                                            f"number of layers, per rule; {n} {dataset} cases"),
               "_shares": plots.layer_shares(diags, f"{model}: each layer's share of the residual, widest window "
                                                    f"(mean, 95 % interval over {n} cases)"),
               "_cost": plots.preservation_costs(diags, f"{model}: total preservation cost Σ tr(Δ C0 Δᵀ) per edit "
                                                        f"(mean, 95 % interval over {n} cases)")}
        against_memit = claims[claims.b.map(lambda b: parts(b)[1] == "memit")] if len(claims) else claims
        return {**out, **self.differences(tables, against_memit)}

    def summary(self, claims):
        """The notebook's question, for the README: S at the widest window, each rule − the
        single layer, with MEMIT's objective (ROME's rows are in docs/statistics.md), from each
        model's largest run (the paper profile where it exists)."""
        if not len(claims):
            return claims
        a, b = claims.a.map(parts), claims.b.map(parts)
        n = a.map(lambda p: p[2] or 0)
        widest = n.groupby([claims.model, claims.profile]).transform("max")
        largest = claims.n.groupby(claims.model).transform("max")
        keep = ((claims.metric == "S") & b.map(lambda p: p[1] == SINGLE) & (n == widest)
                & a.map(lambda p: p[0] == "memit") & (claims.n == largest))
        return claims[keep]

    def report_rows(self, table):
        return table

    def report_extras(self, tables):
        diags = tables.get("_diagnostics")
        if diags is None or "share_realised" not in diags:
            return []
        return [("per edit: total preservation cost and ‖Δ‖ (medians), miss on z and each layer's realised share "
                 "(means)", rule_table(diags))]

    def show_tables(self, run):
        from IPython.display import display

        super().show_tables(run)
        display(rule_table(run.tables["_diagnostics"]))


def rule_table(diags: pd.DataFrame) -> pd.DataFrame:
    """Per setting: the total preservation cost Σ_l tr(Δ_l C0 Δ_lᵀ) and ‖Δ‖ per edit (median
    over cases), the miss on z after the edit and each layer's realised share (mean)."""
    solved = diags[diags["error"].isna()] if "error" in diags else diags
    per_edit = solved.groupby(["setting", "case_ids"], sort=False).agg(
        cost=("preservation_cost", "sum"), update_norm=("update_norm", lambda v: float((v ** 2).sum() ** 0.5)),
        value_miss=("value_miss", "first") if "value_miss" in solved else ("update_norm", lambda v: float("nan")))
    table = per_edit.groupby("setting", sort=False).median()
    shares = solved.pivot_table(index="setting", columns="layer", values="share_realised", aggfunc="mean", sort=False)
    shares = shares[sorted(shares.columns)]
    shares.columns = [f"share L{int(c)}" for c in shares.columns]
    table = table.apply(lambda col: col.map(lambda v: float(f"{v:.3g}")))     # costs differ by model: 3 digits
    return table.join(shares.round(3))


DISTRIBUTION_RULES = register(DistributionRules())
