"""What produced a result: the hardware, the software versions, the code's git commit and
the numeric settings that change the last digits (thread count, device, dtypes).

Every results table of the notebooks carries these columns (see
:class:`editlib.experiments.RunRecord`), so two tables that differ in their last digits
can be told apart by what ran them: float32 sums reduced over 1 or 2 threads, or z in
bfloat16 on one machine and float32 on another, differ at ~1e-5 relative.
"""
from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def hardware(device) -> str:
    """The device results were produced on, in words: "NVIDIA H200" or "CPU: <model>, 2 cores"."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU: {name}, {os.cpu_count()} cores"


@lru_cache(maxsize=1)
def git_state(root: Path = ROOT) -> tuple[str, bool | None]:
    """(commit, dirty) of the checkout editlib runs from; ("unknown", None) when it is not
    a git checkout (an installed wheel) or git is missing. Dirty: tracked files outside
    ``figures/`` differ from the commit (untracked files do not count, nor the results a
    run is writing)."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                 ".", ":(exclude)figures"],
                                capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return commit, bool(status.strip())


def versions() -> dict:
    """editlib, torch and transformers versions."""
    from importlib.metadata import PackageNotFoundError, version

    import transformers

    try:
        editlib_version = version("editlib")
    except PackageNotFoundError:
        editlib_version = "unknown"
    return {"editlib_version": editlib_version, "torch_version": torch.__version__,
            "transformers_version": transformers.__version__}


def software() -> dict:
    """The columns of :func:`versions`, the git commit with its dirty flag, and torch's
    intra-op thread count (float32 reductions are summed in a thread-dependent order)."""
    commit, dirty = git_state()
    return {**versions(), "git_commit": commit, "git_dirty": dirty, "threads": torch.get_num_threads()}
