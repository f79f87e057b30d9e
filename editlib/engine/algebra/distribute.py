"""The edit-distribution algorithm: how one edit is spread over several layers, for any
objective. A small registry of rules, chosen by name (``Editor(..., distribution=...)``).

Targets Z (d_v × B) are computed once at the last layer of ``layers``; H is the value site
there, so R0 = Z − H on the unedited model is what the edit must add. The rules:

- ``memit`` (MEMIT's): for i = 0..n−1, recompute the keys K_i on the model as edited so
  far, read H again, and solve the objective at layer i for R_i = (Z − H) / (n − i).
- ``uniform``: keys and H from the unedited model, each layer solves for R0 / n; no
  recomputation.
- ``optimal``: keys and H from the unedited model, one joint solve of the objective over
  all layers (:func:`~editlib.engine.algebra.solvers.joint`): the shares that cost the
  least preservation, α_l ∝ k_lᵀ M_l⁻¹ k_l for one fact.
- ``optimal_recompute``: ``optimal``, then ``distribution_rounds − 1`` more rounds, each
  recomputing the keys and H on the model as edited and solving jointly for what remains.

With one layer every rule is the objective's own solve there (the same code path, so the
same bits). Each layer's diagnostics carry ``share`` (the fraction of the step's residual
the rule gives the layer) and ``share_realised`` = ⟨R0, Δ_l K_l⟩ / ‖R0‖² (the layer's
first-order contribution to R0; they add to ≈ 1), with ``share_norm`` = ‖Δ_l K_l‖ / ‖R0‖.
Multi-layer rules also report ``value_miss`` = ‖Z − H_after‖ / ‖R0‖, measured on the
edited model.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from tqdm.auto import tqdm

from ...base.errors import UnknownNameError


class EditSteps(Protocol):
    """What a rule calls on the model (implemented by the Editor's edit pass)."""

    def keys_at(self, layer: int) -> torch.Tensor: ...                       # K (d_k, B), model as it is now
    def values_at_last(self) -> torch.Tensor: ...                            # H (d_v, B), model as it is now
    def solve_layer(self, layer: int, keys, resid) -> tuple[torch.Tensor, dict]: ...
    def solve_joint(self, layers: list[int], keys: dict, resid) -> list[tuple[torch.Tensor, dict]]: ...
    def measure(self, layer: int, delta, keys) -> dict: ...                  # cost of a Δ against C0
    def write_layer(self, layer: int, delta: torch.Tensor) -> None: ...


@dataclass(frozen=True)
class DistributionRule:
    name: str
    # (layers, z, steps, rounds, progress) -> [(layer, Δ, diagnostics)]
    spread: Callable
    summary: str


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


def _shares(delta, keys, r0) -> dict:
    """The layer's first-order contribution Δ_l K_l measured against the edit's residual R0."""
    d, k, r = _f64(delta), _f64(keys).to(delta.device), _f64(r0).to(delta.device)
    part = d @ k
    norm2 = max(float((r * r).sum()), 1e-300)
    return {"share_realised": float((part * r).sum()) / norm2,
            "share_norm": float(torch.linalg.norm(part)) / norm2 ** 0.5}


def _miss(z, steps: EditSteps, r0) -> float:
    h = steps.values_at_last()
    return float(torch.linalg.norm(_f64(z.to(h.device) - h)) / torch.linalg.norm(_f64(r0)).clamp(min=1e-300))


def _memit(layers, z, steps: EditSteps, rounds: int = 1, progress: bool = True):
    """MEMIT's rule: layer by layer, keys and H recomputed, 1/(n − i) of what remains."""
    out, r0 = [], None
    n = len(layers)
    for i, layer in enumerate(tqdm(layers, desc="solving per layer", disable=not progress or n == 1, leave=False)):
        keys = steps.keys_at(layer)                            # (d_k, B) on the current model
        h = steps.values_at_last()                             # on the last layer's device
        if r0 is None:
            r0 = z.to(h.device) - h
        resid = (z.to(h.device) - h) / (n - i)                 # (d_v, B)
        delta, diag = steps.solve_layer(layer, keys, resid)
        steps.write_layer(layer, delta)
        out.append((layer, delta, {**diag, "layer": layer, "share": 1.0 / (n - i), **_shares(delta, keys, r0)}))
    return _with_miss(out, z, steps, r0)


def _uniform(layers, z, steps: EditSteps, rounds: int = 1, progress: bool = True):
    """Equal shares fixed up front: every layer solves for R0 / n with the unedited keys."""
    keys = {layer: steps.keys_at(layer) for layer in layers}
    h = steps.values_at_last()
    r0 = z.to(h.device) - h
    n = len(layers)
    solved = [(layer, *steps.solve_layer(layer, keys[layer], r0 / n)) for layer in layers]
    for layer, delta, _ in solved:
        steps.write_layer(layer, delta)
    out = [(layer, delta, {**diag, "layer": layer, "share": 1.0 / n, **_shares(delta, keys[layer], r0)})
           for layer, delta, diag in solved]
    return _with_miss(out, z, steps, r0)


def _optimal(layers, z, steps: EditSteps, rounds: int = 1, progress: bool = True):
    """The joint solve over all layers, ``rounds`` times: each round recomputes the keys and
    H on the model as edited and solves jointly for what remains. One row per layer: the
    summed Δ, its cost against C0 and its share of R0."""
    total: dict[int, torch.Tensor] = {}
    first_keys, r0, last = {}, None, {}
    for _ in range(rounds):
        keys = {layer: steps.keys_at(layer) for layer in layers}
        h = steps.values_at_last()
        resid = z.to(h.device) - h
        if r0 is None:
            r0, first_keys = resid, keys
        for layer, (delta, diag) in zip(layers, steps.solve_joint(layers, keys, resid)):
            steps.write_layer(layer, delta)
            total[layer] = delta if layer not in total else total[layer] + delta.to(total[layer].device)
            share = _shares(delta, keys[layer], resid)["share_realised"]
            last[layer] = {**diag, "share": share,
                           "condition_number": max(diag["condition_number"],
                                                   last.get(layer, {}).get("condition_number", 0.0))}
    out = []
    for layer in layers:
        # the summed Δ measured against C0; the rounds' keys differ, so its share is read at the first's
        diag = {**last[layer], **steps.measure(layer, total[layer], first_keys[layer]), "rounds": rounds}
        out.append((layer, total[layer], {**diag, "layer": layer, **_shares(total[layer], first_keys[layer], r0)}))
    return _with_miss(out, z, steps, r0)


def _with_miss(out, z, steps, r0):
    if len(out) > 1:
        miss = _miss(z, steps, r0)
        out = [(layer, delta, {**diag, "value_miss": miss}) for layer, delta, diag in out]
    return out


RULES: dict[str, DistributionRule] = {
    "memit": DistributionRule("memit", _memit, "layer by layer, keys recomputed, 1/(n − i) of what remains"),
    "uniform": DistributionRule("uniform", _uniform, "R0 / n per layer, unedited keys"),
    "optimal": DistributionRule("optimal", _optimal, "one joint solve: the least preservation cost"),
    "optimal_recompute": DistributionRule("optimal_recompute", _optimal,
                                          "joint solves, keys recomputed between rounds"),
}


def get_distribution(name: str) -> DistributionRule:
    if not isinstance(name, str) or name not in RULES:
        raise UnknownNameError(f"unknown edit distribution {name!r}; known: {sorted(RULES)}")
    return RULES[name]


def distribute(layers: list[int], z: torch.Tensor, steps: EditSteps, rule: str = "memit", rounds: int = 1,
               progress: bool = True):
    """Spread Z (d_v × B) over ``layers`` by ``rule``; returns [(layer, Δ, diagnostics)].
    ``rounds`` counts the joint solves of ``optimal_recompute`` (``optimal`` is one)."""
    chosen = get_distribution(rule)
    if len(layers) == 1:                    # one layer: every rule is the objective's own solve
        chosen = RULES["memit"]
    return chosen.spread(layers, z, steps, rounds if chosen.name == "optimal_recompute" else 1, progress)
