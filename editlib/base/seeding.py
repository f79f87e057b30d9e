"""Seeded randomness that leaves the global RNG state as it was."""
from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def seeded(seed: int, device=("cpu",)):
    """Run a block with torch's RNG seeded (every device's: ``torch.manual_seed``), leaving
    the global RNG state of ``device`` (one, or several for a model placed over several)
    and the CPU's as it was."""
    devices = [torch.device(d) for d in (device if isinstance(device, (list, tuple, set)) else [device])]
    with torch.random.fork_rng(devices=sorted({d for d in devices if d.type == "cuda"}, key=str)):
        torch.manual_seed(seed)
        yield
