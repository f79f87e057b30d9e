"""The language-model head applied only where a loss or score needs logits."""
from __future__ import annotations

import torch
from torch import nn

from .architectures import Architecture


def head_logits(model: nn.Module, arch: Architecture, hidden: torch.Tensor) -> torch.Tensor:
    """Logits from last-block hidden states (N, d) → (N, vocab): final norm, LM head and,
    where the config asks for it, logit soft-capping."""
    h = model.get_submodule(arch.final_norm)(hidden)
    logits = model.get_submodule(arch.lm_head)(h).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits
