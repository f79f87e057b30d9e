"""Where lower precision is allowed, and where it is not.

The bulk of the work, the forward/backward passes of z and the forward pass of the
covariance statistics, may run with lower-precision matmuls (``compute``); what accuracy
depends on stays in float32/float64 (``exact``): δ and the optimiser state are float32
parameters, the log-probabilities of the loss are float32 (autocast's policy for
``log_softmax``), C0's kᵀk products are float32 and are accumulated in float64.

``dtype`` names (``ZSettings.compute_dtype``, ``EditHparams.mom2_dtype``):

- ``None`` / ``"float32"``: everything in float32 (the reference);
- ``"tf32"``: float32 storage, TensorFloat-32 tensor-core matmuls on CUDA (no-op on CPU);
- ``"bfloat16"`` / ``"float16"``: autocast of the matmuls (and TF32 for those autocast
  leaves in float32, on CUDA). On a CPU, attention then uses PyTorch's math kernel: the
  fused CPU kernel's backward is about 5× slower in bfloat16 than in float32 (a development
  profile of SmolLM2's z, no script kept), the math kernel runs it as plain bfloat16 matmuls;
- ``"auto"``: bfloat16 where it is known to pay — a CUDA GPU that supports it, a CPU with
  AMX tiles for bfloat16 (``amx_bf16``) — and float32 elsewhere. ``avx512_bf16`` alone
  does not predict it: on a 2-core Xeon with it (no AMX) z ran 1.5× *slower* in bfloat16
  (the MLP's matmuls at 162 GFLOP/s against 247 in float32), on one without it 3.5×
  slower (65 against 228), while a 2-core AMD EPYC with it ran z 1.76× faster. A
  deterministic rule that is never much slower than float32 beats one that is sometimes
  faster. :func:`resolve` turns ``"auto"`` into the concrete name, which results record.

``benchmarks/precision_speed.py`` prints both precisions' speed of z on the machine at hand.
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch

DTYPES = ("float32", "tf32", "bfloat16", "float16", "auto")
CPU_BF16_FLAGS = ("amx_bf16",)          # where "auto" picks bfloat16 on a CPU (see the module docstring)


def cpu_flags() -> set[str]:
    """The instruction-set flags the CPU reports (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return {w for line in f if line.startswith(("flags", "Features")) for w in line.split(":", 1)[1].split()}
    except OSError:
        return set()


def native_bfloat16(device: torch.device | str) -> bool:
    """Whether ``device`` runs bfloat16 matmuls faster than float32: a CUDA GPU that
    supports bfloat16, a CPU with AMX tiles for it."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(cpu_flags() & set(CPU_BF16_FLAGS))
    return False


def resolve(dtype: str | None, device: torch.device | str) -> str | None:
    """``dtype`` as it will run on ``device``: ``"auto"`` becomes ``"bfloat16"`` where
    :func:`native_bfloat16` and ``"float32"`` elsewhere; other names are returned as given."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if native_bfloat16(device) else "float32"


@contextmanager
def _matmul_precision(level: str):
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(level)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


@contextmanager
def compute(device: torch.device | str, dtype: str | None):
    """The bulk passes at ``dtype`` (see the module docstring)."""
    device = torch.device(device)
    dtype = resolve(dtype, device)
    with ExitStack() as stack:
        if dtype in ("bfloat16", "float16"):
            stack.enter_context(torch.autocast(device.type, dtype=getattr(torch, dtype)))
            if device.type == "cpu":
                from torch.nn.attention import SDPBackend, sdpa_kernel

                stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
        if dtype in ("tf32", "bfloat16", "float16") and device.type == "cuda":
            stack.enter_context(_matmul_precision("high"))
        yield


@contextmanager
def exact(device: torch.device | str):
    """Full float32 matmuls inside a :func:`compute` block (autocast and TF32 off)."""
    device = torch.device(device)
    with torch.autocast(device.type, enabled=False), _matmul_precision("highest"):
        yield


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """A storage dtype (the model's weights) from its name; None is float32."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
                "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                "float64": torch.float64}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use float32, float16 or bfloat16") from None
