"""Keys k: the rewrite module's input at the fact token, averaged over context templates.
Two conventions (``key_average``):

- ``"half_plain"`` (MEMIT, EMMET and the unified ROME): k = ½ k(plain prompt) + ½ mean_t k(template_t prompt)
- ``"uniform"`` (ROME's own code): k* = mean over all templates, the plain prompt ("{}") counted once
"""
from __future__ import annotations

import torch

from ..model.architectures import Architecture, input_device
from ..model.hooks import trace
from ..model.prompts import encode, pad, pad_id, token_batches
from .requests import EditRequest, check_finite


def read_at_fact(model, tok, arch: Architecture, requests: list[EditRequest], templates: list[str],
                 reads: dict[str, str], fact_token: str, max_tokens: int = 4096) -> dict[str, torch.Tensor]:
    """For every (template, request) pair, the module inputs/outputs named in ``reads`` at
    the fact token: {name: (n_templates, B, d)}. Stops the forward after the deepest read."""
    device = input_device(model)
    encoded = [encode(tok, t, r.prompt, r.subject, fact_token) for t in templates for r in requests]
    order = [_depth(arch, n) for n in reads]
    deepest = list(reads)[max(range(len(order)), key=order.__getitem__)]
    parts: dict[str, list[torch.Tensor]] = {n: [] for n in reads}
    for batch in token_batches(encoded, max_tokens, length=lambda e: len(e.ids)):
        ids, mask = pad([e.ids for e in batch], pad_id(tok), device)
        rows = torch.arange(len(batch), device=device)
        cols = torch.tensor([e.fact_idx for e in batch], device=device)
        got = trace(model, ids, mask, reads, rows, cols, stop_after=deepest)
        for n in reads:
            parts[n].append(got[n].float())
    return {n: torch.cat(v).view(len(templates), len(requests), -1) for n, v in parts.items()}


def _depth(arch: Architecture, name: str) -> tuple[int, int]:
    """Order module names by (layer, is-block-output) so we stop after the deepest one."""
    digits = [int(p) for p in name.split(".") if p.isdigit()]
    return (digits[0] if digits else 10**9, -name.count("."))


KEY_AVERAGES = ("half_plain", "uniform")


def template_mean(x: torch.Tensor, average: str = "half_plain") -> torch.Tensor:
    """(n_templates, B, d) → (B, d), template 0 being the plain prompt "{}"."""
    if x.shape[0] == 1:
        return x[0]
    if average == "uniform":
        return x.mean(0)
    if average != "half_plain":
        raise ValueError(f"key_average must be one of {KEY_AVERAGES}, not {average!r}")
    return 0.5 * x[0] + 0.5 * x[1:].mean(0)


def template_keys(model, tok, arch: Architecture, requests: list[EditRequest], layers: list[int],
                  templates: list[str], fact_token: str = "subject_last") -> dict[int, torch.Tensor]:
    """The key of every (template, request): {layer: (n_templates, B, d_k)} in float32."""
    if templates[0] != "{}":
        raise ValueError(f"the first context template must be the plain prompt '{{}}', not {templates[0]!r}")
    names = {layer: arch.name("rewrite", layer) for layer in layers}
    got = read_at_fact(model, tok, arch, requests, templates, {n: "in" for n in names.values()}, fact_token)
    for layer, n in names.items():
        check_finite(f"keys at layer {layer}", got[n])
    return {layer: got[n] for layer, n in names.items()}


def compute_keys(model, tok, arch: Architecture, requests: list[EditRequest], layers: list[int],
                 templates: list[str], fact_token: str = "subject_last", average: str = "half_plain"
                 ) -> dict[int, torch.Tensor]:
    """K_E per layer: {layer: (d_k, B)} in float32."""
    got = template_keys(model, tok, arch, requests, layers, templates, fact_token)
    return {layer: template_mean(x, average).T.contiguous() for layer, x in got.items()}


def site_values(model, tok, arch: Architecture, requests: list[EditRequest], layer: int,
                fact_token: str = "subject_last") -> torch.Tensor:
    """The value-site output at the fact token of the plain prompt: (d_v, B). This is H in
    MEMIT's residual R = Z − H."""
    name = arch.name(arch.value_site, layer)
    got = read_at_fact(model, tok, arch, requests, ["{}"], {name: "out"}, fact_token)
    return got[name][0].T.contiguous()
