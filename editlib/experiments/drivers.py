"""What the notebooks call: each experiment edits, evaluates and returns tidy tables whose
every row carries the model, method, layers, seed and hyperparameters that produced it."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..base import checks
from ..engine.algebra.solvers import SingularSystemError
from ..engine.edit.editor import Editor
from ..engine.targets.keys import compute_keys
from ..engine.targets.requests import EditRequest
from ..evaluation.evaluate import evaluate
from .journal import NoJournal


@dataclass
class Setting:
    """One edit configuration to compare: a label (what tables and figures show), an
    objective, its layers and overrides, and a key (what an experiment's comparisons and a
    run's ``settings`` parameter name it by; the label when not given)."""

    label: str
    method: str
    layers: str | list[int] = "single"
    overrides: dict | None = None
    key: str = ""

    def __post_init__(self):
        self.key = self.key or self.label

    def with_overrides(self, overrides: dict, layers=None) -> Setting:
        """The same setting under a run's common overrides (its own win) and layers."""
        return Setting(self.label, self.method, self.layers if layers is None else layers,
                       {**overrides, **(self.overrides or {})}, self.key)

    def editor(self, model, tok, preset=None) -> Editor:
        return Editor(model, tok, method=self.method, layers=self.layers, preset=preset, progress=False,
                      **(self.overrides or {}))


def _params(model_name, editor: Editor | None, setting: Setting | None, seed: int, dataset: str) -> dict:
    p = {"model": model_name, "dataset": dataset, "seed": seed}
    if editor is None:
        return {**p, "setting": "unedited", "method": "none", "mode": "none", "layers": "[]", "hparams": "{}"}
    hp = {**{k: v for k, v in vars(editor.hparams).items() if k != "layers"}, **vars(editor.config)}
    mode = setting.layers if isinstance(setting.layers, str) else "custom"
    return {**p, "setting": setting.label, "method": setting.method, "mode": mode,
            "layers": str(editor.hparams.layers),
            "hparams": json.dumps(hp, default=str, sort_keys=True)}


def _requests(cases):
    return [EditRequest.from_dict(c) for c in cases]


def _mean(values) -> float:
    values = [x for x in (values or []) if x is not None]
    return float(np.mean(values)) if values else float("nan")


def _diag_rows(result, params, case_ids, batch_size):
    rows = []
    for d in result.diagnostics:
        rows.append({**params, **d, "batch_size": batch_size, "case_ids": str(case_ids),
                     "z_loss": _mean(result.z_info.get("loss")),
                     "z_steps": _mean(result.z_info.get("steps")),      # Adam steps per fact (z's stopping rule)
                     "corpus": result.stats_info.get("corpus_used"),
                     "corpus_tokens": result.stats_info.get("tokens_used"),
                     "edit_s": result.timings["total_s"]})
    return rows


def unedited(model, tok, cases, model_name: str, dataset: str, seed: int = 0, generation=False,
             gen_tokens: int = 40) -> pd.DataFrame:
    """The pre-edit metrics of the same cases (setting "unedited")."""
    return evaluate(model, tok, cases, generation=generation, gen_tokens=gen_tokens, seed=seed,
                    params=_params(model_name, None, None, seed, dataset))


def edit_plan(n_cases: int, batch_size: int, scored: int | None = None) -> list[tuple[int, int]]:
    """The batches edited at one batch size, as (start, n_scored): consecutive batches of
    ``batch_size`` cases from the start, as many as it takes to score ``scored`` edited
    facts (the first ones of each batch; None: every batch, every fact)."""
    left = n_cases if scored is None else scored
    plan = []
    for start in range(0, n_cases - n_cases % batch_size, batch_size):
        if left <= 0:
            break
        plan.append((start, min(batch_size, left)))
        left -= plan[-1][1]
    return plan


def _ge_count(generation: bool | int, start: int, k: int) -> bool | int:
    """GE for the cases start..start+k when ``generation`` asks for it on every case (True)
    or on the first n cases of the list (a number)."""
    return generation if isinstance(generation, bool) else max(0, min(int(generation) - start, k))


def batch_edits(model, tok, cases, settings: list[Setting], batch_sizes=(1,), model_name: str = "",
                dataset: str = "", seed: int = 0, generation: bool | int = False, gen_tokens: int = 40,
                preset: str | None = None, scored: int | None = None, journal=None):
    """Edit the cases in consecutive batches of each size (batch size 1 = single edits),
    restoring the model after each batch, and score each batch's cases on the edited
    model. With ``scored``, each batch size edits only as many batches as it takes to
    score that many facts, and scores the first facts of each (a large batch is still
    written whole; scoring is what a sample saves). ``generation``: GE on every scored case
    (True) or on the first n cases of ``cases`` (a number: sampling is the slow part). Every
    fact's z is computed once, in one batch, and reused across settings that share a layer
    and across batch sizes (disk cache). ``journal``
    (:class:`~editlib.experiments.journal.Journal`): each setting × batch is a unit, read back
    when a stopped run finished it. Returns (metrics, diagnostics)."""
    journal = journal or NoJournal()
    metrics, diags = [], []
    reqs = _requests(cases)
    plans = {b: edit_plan(len(cases), b, scored) for b in batch_sizes}
    bar = tqdm(total=sum(map(len, plans.values())) * len(settings), desc="edits", unit="batch")
    every = {s.key: {f"{s.key} · B{b} · {start}": (b, start, k) for b, plan in plans.items() for start, k in plan}
             for s in settings}
    journal.expect([u for units in every.values() for u in units])
    for s in settings:
        units = every[s.key]
        left = [u for u, (b, start, _) in units.items() if not journal.done(u)]
        editor = params = None                          # needed only for the units left to do
        if left:
            editor = s.editor(model, tok, preset)
            editor.progress = True                      # statistics and z take minutes: show them
            needed = sorted({i for u in left for i in range(units[u][1], units[u][1] + units[u][0])})
            editor.targets([reqs[i] for i in needed])   # all z in one batched optimisation
            editor.progress = False                     # the edits themselves: counted by `bar`
            params = _params(model_name, editor, s, seed, dataset)
        for unit, (b, start, k) in units.items():
            bar.update(1)
            m, d = journal.run(unit, lambda b=b, start=start, k=k, editor=editor, params=params: _batch_unit(
                editor, params, model, tok, cases, reqs, b, start, k, generation, gen_tokens, seed))
            if m is not None:
                metrics.append(m)
            diags += d
    bar.close()
    return pd.concat(metrics, ignore_index=True), pd.DataFrame(diags)


def _batch_unit(editor, params, model, tok, cases, reqs, b, start, k, generation, gen_tokens, seed):
    """One batch written, its first ``k`` facts scored, the weights restored: (metrics or
    None, diagnostics rows); a refused solve is a diagnostics row with its error."""
    ids = [c["case_id"] for c in cases[start:start + b]]
    try:
        with editor.edited(reqs[start:start + b]) as result:
            m = evaluate(model, tok, cases[start:start + k], generation=_ge_count(generation, start, k),
                         gen_tokens=gen_tokens, seed=seed, params={**params, "batch_size": b})
    except SingularSystemError as e:       # e.g. EMMET with μ = 0 at a large batch
        return None, [{**params, "batch_size": b, "error": str(e), "case_ids": str(ids)}]
    return m, _diag_rows(result, params, ids, b)


def key_conditioning(model, tok, cases, layer: int, batch_sizes, mus=(0.0,), model_name: str = "",
                     preset: str | None = None, overrides: dict | None = None) -> pd.DataFrame:
    """Condition number of EMMET's inner matrix Kᵀ C0⁻¹ K + μI as the batch grows. Needs
    keys only (no target values), so it reaches batches far larger than the edits do."""
    over = {k: v for k, v in (overrides or {}).items() if k != "mu"}
    editor = Editor(model, tok, method="emmet", layers=[layer], preset=preset, progress=False, **over)
    reqs = _requests(cases[: max(batch_sizes)])
    keys = compute_keys(model, tok, editor.arch, reqs, [layer], editor.templates)[layer].double()
    cov = editor.covariances()[layer].to(keys.device, torch.float64)     # C0 is kept on the CPU
    c_inv_k = torch.linalg.solve(cov, keys)
    rows = []
    for b in batch_sizes:
        if b > keys.shape[1]:
            continue
        inner = keys[:, :b].T @ c_inv_k[:, :b]
        scale = float(torch.trace(inner) / b)            # typical diagonal entry kᵀC⁻¹k
        for mu in mus:
            # μ is relative to C0 scaled by λ (as in the EMMET code): ridge λ·μ on Kᵀ C0⁻¹ K
            lam = editor.config.mom2_update_weight
            m = inner + lam * mu * torch.eye(b, dtype=inner.dtype, device=inner.device)
            rows.append({"model": model_name, "layer": layer, "batch_size": b, "mu": mu,
                         "condition_number": float(torch.linalg.cond(m)), "mean_kCk": scale,
                         "d_k": keys.shape[0]})
    return pd.DataFrame(rows)


def _weight_drift(model, editor: Editor, originals: dict[str, torch.Tensor]) -> float:
    """‖W_t − W_0‖ over the editor's rewrite weights (Frobenius norm of all of them together)."""
    total = 0.0
    for name, w0 in originals.items():
        w = model.get_submodule(name).weight.detach().double().cpu()
        total += float(torch.linalg.norm(w - w0) ** 2)
    return total ** 0.5


def _general_ability(model, tok, windows, ge_cases, gen_tokens: int, seed: int) -> dict:
    """Perplexity on the held-out windows (and each window's mean NLL, to pair two settings
    window by window), and GE on ``ge_cases``."""
    from ..evaluation.evaluate import generation_scores
    from ..evaluation.metrics.perplexity import perplexity_of, window_losses, window_nll

    sums, counts = window_losses(model, tok, windows)
    out = {"perplexity": perplexity_of(sums, counts), "window_nll": window_nll(sums, counts)}
    if ge_cases:
        out["GE"] = float(np.mean(generation_scores(model, tok, ge_cases, gen_tokens, seed)))
    return out


def sequential_edits(model, tok, cases, settings: list[Setting], batch_size: int, n_batches: int,
                     model_name: str = "", dataset: str = "", seed: int = 0, retention: int = 64,
                     ability_every: int = 5, ppl_tokens: int = 8192, ge_cases: int = 0, gen_tokens: int = 40,
                     scored: int | None = None, preset: str | None = None, retention_every: int = 1,
                     journal=None):
    """Lifelong editing: per setting, write ``n_batches`` batches of ``batch_size`` cases one
    after another into the same model (z, keys and the solve of each batch on the model as
    edited so far), and after each batch score

    - the batch just written (scope "batch": ES, PS, NS, EM, PM, NM; its first ``scored``
      facts, None: all),
    - a fixed random sample of ``retention`` of all the planned cases, restricted to those
      already written (scope "retention": are earlier edits still there?), after every
      ``retention_every``-th batch (and the last; 1: every batch),

    and every ``ability_every`` batches (and after the last) perplexity on held-out text
    (:mod:`~editlib.evaluation.metrics.perplexity`), GE on the generation prompts of ``ge_cases`` cases
    (0: skip) and ‖W_t − W_0‖. The model is restored bit for bit after each setting. A
    setting whose solve is refused (singular) stops there, with the error recorded.
    Returns (metrics, trajectory): long-format scores, and one row per batch with the
    solver's diagnostics, the ability measures (``window_nll``: each held-out window's mean
    NLL, a list; see :func:`window_table`) and the weight drift. ``journal``: the unedited
    measures and each setting's whole sequence are units, read back when a stopped run
    finished them (a sequence stopped part-way starts again from its first batch)."""
    from ..evaluation.metrics.perplexity import heldout_windows

    for name, every in (("retention_every", retention_every), ("ability_every", ability_every)):
        checks.number(name, every, low=1, integer=True)
    total = batch_size * n_batches
    if len(cases) < total:
        raise ValueError(f"{n_batches} batches of {batch_size} need {total} cases, got {len(cases)}")
    cases = cases[:total]
    reqs = _requests(cases)
    rng = np.random.default_rng(seed)
    sample = sorted(rng.choice(total, size=min(retention, total), replace=False).tolist())
    windows, text = heldout_windows(tok, model, n_tokens=ppl_tokens, seed=seed)      # from the unedited model
    gen = cases[:ge_cases]
    base = {"model": model_name, "dataset": dataset, "seed": seed, "batch_size": batch_size}
    journal = journal or NoJournal()
    journal.expect(["unedited"] + [s.key for s in settings])
    before = journal.run("unedited", lambda: {**base, "setting": "unedited", "n_edits": 0, "heldout": text,
                                               **_general_ability(model, tok, windows, gen, gen_tokens, seed)})
    metrics, trajectory = [], []
    bar = tqdm(total=n_batches * len(settings), desc="sequential edits", unit="batch")
    for s in settings:
        done = journal.done(s.key)
        m, rows = journal.run(s.key, lambda s=s: _sequence(
            model, tok, cases, reqs, s, preset, before, base, batch_size, n_batches, sample, scored,
            retention_every, ability_every, windows, text, gen, gen_tokens, seed, model_name, dataset, bar))
        if done:
            bar.update(n_batches)
        metrics += m
        trajectory += rows
    bar.close()
    return pd.concat(metrics, ignore_index=True), pd.DataFrame(trajectory)


def _sequence(model, tok, cases, reqs, s: Setting, preset, before, base, batch_size, n_batches, sample, scored,
              retention_every, ability_every, windows, text, gen, gen_tokens, seed, model_name, dataset, bar):
    """One setting's sequence, the model restored after it: (metrics frames, trajectory rows)."""
    metrics, trajectory = [], []
    editor = s.editor(model, tok, preset)
    editor.covariances()                               # C0 of the unedited model, before any edit
    params = {**_params(model_name, editor, s, seed, dataset), "batch_size": batch_size}
    originals = {editor.arch.name("rewrite", l): model.get_submodule(editor.arch.name("rewrite", l))
                 .weight.detach().double().cpu().clone() for l in editor.hparams.layers}
    trajectory.append({**before, "setting": s.label, "weight_drift": 0.0})
    try:
        for t in range(n_batches):
            lo, hi = t * batch_size, (t + 1) * batch_size
            row = {**base, "setting": s.label, "method": s.method, "n_edits": hi}
            try:
                result = editor.apply(reqs[lo:hi])
            except SingularSystemError as e:
                trajectory.append({**row, "error": str(e)})
                bar.update(n_batches - t)
                break
            bar.update(1)
            metrics.append(evaluate(model, tok, cases[lo:lo + (scored or batch_size)],
                                    params={**params, "n_edits": hi, "scope": "batch"}))
            written = [cases[i] for i in sample if i < hi]
            if written and ((t + 1) % retention_every == 0 or t == n_batches - 1):
                scope = {**params, "n_edits": hi, "scope": "retention"}
                metrics.append(evaluate(model, tok, written, params=scope))
            d = result.diagnostics[-1]
            row.update({k: d.get(k) for k in ("preservation_cost", "preserved_edits_cost", "relative_residual",
                                              "update_norm", "condition_number", "projection_rank")})
            row["weight_drift"] = _weight_drift(model, editor, originals)
            if (t + 1) % ability_every == 0 or t == n_batches - 1:
                row.update(heldout=text, **_general_ability(model, tok, windows, gen, gen_tokens, seed))
            trajectory.append(row)
    finally:
        editor.restore()
    return metrics, trajectory


def window_table(trajectory: pd.DataFrame) -> pd.DataFrame:
    """The held-out windows' mean NLL per setting and edit count, long format (case_id = the
    window's index, metric "window NLL"): perplexity paired window by window between settings."""
    if "window_nll" not in trajectory:
        return pd.DataFrame(columns=["setting", "n_edits", "case_id", "metric", "value"])
    rows = trajectory.dropna(subset=["window_nll"])
    keep = [c for c in ("model", "dataset", "seed", "batch_size", "setting", "method", "n_edits") if c in rows]
    out = rows[keep + ["window_nll"]].explode("window_nll")
    out["case_id"] = out.groupby(keep, dropna=False).cumcount()
    out = out.rename(columns={"window_nll": "value"}).assign(metric="window NLL")
    return out.astype({"value": float}).reset_index(drop=True)


def layer_sweep(model, tok, cases, layers, method: str = "rome", model_name: str = "", dataset: str = "",
                seed: int = 0, preset: str | None = None) -> pd.DataFrame:
    """Single edits at each layer in turn: how the choice of layer trades efficacy,
    generalisation and specificity (used to choose the small models' layers)."""
    out = []
    for layer in tqdm(layers, desc="layer sweep"):
        m, _ = batch_edits(model, tok, cases, [Setting(f"L{layer}", method, [layer])], (1,), model_name,
                           dataset, seed, preset=preset)
        m["layer"] = layer
        out.append(m)
    return pd.concat(out, ignore_index=True)
