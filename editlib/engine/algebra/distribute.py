"""MEMIT's edit distribution, for any objective.

Targets Z are computed once at the last layer of ``layers``. Then, for i = 0..n−1:
recompute the keys K_i on the model as edited so far, read H (the value site of the last
layer at the fact token), take R_i = (Z − H) / (n − i), solve for Δ_i and apply it.
A single layer is the case n = 1 (R = Z − H = δ).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm


def distribute(layers: list[int], z: torch.Tensor,
               keys_at: Callable[[int], torch.Tensor],
               values_at_last: Callable[[], torch.Tensor],
               solve: Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict]],
               apply: Callable[[int, torch.Tensor], None], progress: bool = True):
    """Spread Z (d_v × B) over ``layers``; returns [(layer, Δ, diagnostics)]."""
    out = []
    n = len(layers)
    for i, layer in enumerate(tqdm(layers, desc="solving per layer", disable=not progress or n == 1, leave=False)):
        keys = keys_at(layer)                                 # (d_k, B) on the current model
        h = values_at_last()                                  # on the last layer's device
        resid = (z.to(h.device) - h) / (n - i)                # (d_v, B)
        delta, diag = solve(layer, keys, resid)
        apply(layer, delta)
        out.append((layer, delta, {**diag, "layer": layer, "share": 1.0 / (n - i)}))
    return out
