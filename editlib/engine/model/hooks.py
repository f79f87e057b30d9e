"""Forward hooks: read module inputs/outputs at chosen tokens, add a vector at chosen
tokens, and stop a forward pass early."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class StopForward(Exception):
    """Raised by a hook once everything needed has been read: the layers above never run."""


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def _replace_first(x, new):
    if isinstance(x, tuple):
        return (new,) + tuple(x[1:])
    if isinstance(x, list):
        return [new] + list(x[1:])
    return new


@contextmanager
def hooks(*handles):
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def trace(model: nn.Module, input_ids, attention_mask, reads: dict[str, str],
          rows: torch.Tensor, cols: torch.Tensor, stop_after: str | None = None) -> dict[str, torch.Tensor]:
    """Run ``model`` and return, for each ``{module_name: "in"|"out"}``, the module's input
    (first positional argument) or output at the tokens ``(rows[i], cols[i])``: (N, d).
    With ``stop_after``, the forward pass stops once that module has run."""
    got: dict[str, torch.Tensor] = {}

    def reader(name, kind):
        def hook(module, args, output):
            x = _first(args) if kind == "in" else _first(output)
            got[name] = x[rows.to(x.device), cols.to(x.device)].detach()     # blocks may sit on other devices
            if name == stop_after:
                raise StopForward
        return hook

    handles = [model.get_submodule(n).register_forward_hook(reader(n, k)) for n, k in reads.items()]
    if stop_after is not None and stop_after not in reads:
        def stop(module, args, output):
            raise StopForward
        handles.append(model.get_submodule(stop_after).register_forward_hook(stop))
    with hooks(*handles), torch.no_grad():
        try:
            model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        except StopForward:
            pass
    return got


def add_at(module: nn.Module, rows: torch.Tensor, cols: torch.Tensor, vectors_fn):
    """Hook that adds ``vectors_fn()`` (N, d) to ``module``'s output at ``(rows, cols)``.
    Returns the handle. ``vectors_fn`` is called at each forward so δ can change."""
    def hook(module, args, output):
        out = _first(output)
        v = vectors_fn().to(out.device, out.dtype)
        new = out.index_put((rows.to(out.device), cols.to(out.device)), v, accumulate=True)
        return _replace_first(output, new)
    return module.register_forward_hook(hook)
