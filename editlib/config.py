"""Where editlib keeps things on disk, and which device it uses when none is named.

Three environment variables, all optional:
- ``EDITLIB_CACHE``: the one directory for every cache (converted models, covariance
  statistics, target values, context templates). Default ``~/.cache/editlib``.
- ``EDITLIB_DATA``: a directory holding data files (CounterFact, zsRE, text corpora).
- ``EDITLIB_RUNS``: where a notebook run without an ``out_dir`` writes its tables and
  figures (one new folder per run). Default ``./runs``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch

from .errors import CacheWarning


def cache_dir(sub: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """The cache directory (or one of its sub-folders), created on demand."""
    base = Path(root or os.environ.get("EDITLIB_CACHE") or Path.home() / ".cache" / "editlib")
    path = base / sub if sub else base
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir(out_dir: str | os.PathLike | None, name: str) -> Path:
    """Where one notebook run writes: ``out_dir`` when given (``make figures`` and
    ``python -m editlib.reproduce`` pass ``figures/``), else a new folder
    ``$EDITLIB_RUNS/<name>-<date>-<time>`` (default ``./runs``), so a notebook run by hand
    in JupyterLab never overwrites the committed figures."""
    if out_dir is not None:
        path = Path(out_dir)
    else:
        import time

        base = Path(os.environ.get("EDITLIB_RUNS") or "runs")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = base / f"{name}-{stamp}"
        k = 1
        while path.exists():
            k += 1
            path = base / f"{name}-{stamp}-{k}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dirs() -> list[Path]:
    """Directories searched for data files: ``$EDITLIB_DATA`` then ``<cache>/data``. A set
    ``EDITLIB_DATA`` that is not a directory is an error, not a silent fallback."""
    dirs = []
    if os.environ.get("EDITLIB_DATA"):
        given = Path(os.environ["EDITLIB_DATA"])
        if not given.is_dir():      # never fall back silently (e.g. "auto" C0 from model samples)
            from .errors import DatasetError

            raise DatasetError(f"EDITLIB_DATA={os.environ['EDITLIB_DATA']!r} is not a directory (resolved from "
                               f"{Path.cwd()}: {given.resolve()}); point it at the data folder or unset it")
        dirs.append(given)
    dirs.append(cache_dir("data"))
    return dirs


def default_device() -> torch.device:
    """CUDA when present, else CPU. Every function also takes an explicit device."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
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


@contextmanager
def seeded(seed: int, device=("cpu",)):
    """Run a block with torch's RNG seeded (every device's: ``torch.manual_seed``), leaving
    the global RNG state of ``device`` (one, or several for a model placed over several)
    and the CPU's as it was."""
    devices = [torch.device(d) for d in (device if isinstance(device, (list, tuple, set)) else [device])]
    with torch.random.fork_rng(devices=sorted({d for d in devices if d.type == "cuda"}, key=str)):
        torch.manual_seed(seed)
        yield


def file_safe(text: str) -> str:
    """``text`` as a file name: characters other than letters, digits, "-", "_", "." become "_"."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))


def stable_key(**fields) -> str:
    """A short hash of JSON-serialisable fields, for cache file names."""
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see a
    half-written cache entry, and concurrent writers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` a cache entry atomically."""
    _atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_json(obj, path: Path) -> None:
    """Write a JSON cache entry atomically."""
    _atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj)))


def _read_torch(path: Path):
    return torch.load(path, weights_only=True)


def _read_json(path: Path):
    return json.loads(path.read_text())


def check_cached_tensor(blob, field: str, shape: tuple[int, ...], key: str | None = None) -> bool:
    """A cache entry's content as expected: ``blob[field]`` a floating tensor of ``shape``
    with finite values, and ``blob["key"] == key`` when a key is given (the entry was
    written for this file's key, not copied from another). Raises ``ValueError`` naming
    what is wrong, for :func:`load_cached` to report."""
    if not isinstance(blob, dict):
        raise ValueError(f"a {type(blob).__name__}, not a dict")
    t = blob.get(field)
    if not torch.is_tensor(t) or not t.is_floating_point():
        raise ValueError(f"{field!r} is not a floating-point tensor")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{field!r} has shape {tuple(t.shape)}, expected {tuple(shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{field!r} holds NaN or inf values")
    if key is not None and blob.get("key") != key:
        raise ValueError(f"written for key {blob.get('key')!r}, not this entry's {key!r}")
    return True


def load_cached(path: Path, check: Callable[[object], bool] = lambda obj: True):
    """A cache entry (``.pt`` via torch, ``.json`` as JSON), or None when there is none.
    An entry that cannot be read or fails ``check`` (truncated, corrupt, foreign) is
    reported once as a :class:`~editlib.errors.CacheWarning` naming the file and removed,
    so the caller recomputes and replaces it. See :func:`check_cached_tensor` for checks
    of a tensor's shape, dtype and values."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        obj = (_read_json if path.suffix == ".json" else _read_torch)(path)
        if not check(obj):              # (a check may also raise ValueError naming what is wrong)
            raise ValueError("unexpected content")
        return obj
    except Exception as e:  # noqa: BLE001 - any unreadable entry is recomputed, never fatal
        warnings.warn(f"cache entry {path} is unreadable ({type(e).__name__}: {e}); recomputing and "
                      "replacing it", CacheWarning, stacklevel=2)
        path.unlink(missing_ok=True)
        return None
