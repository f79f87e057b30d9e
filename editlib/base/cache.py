"""Cache entries on disk: keys that say what they hold, atomic writes, and reads that
check what they find (an unreadable or foreign entry is reported and recomputed)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import CacheWarning


def file_safe(text: str) -> str:
    """``text`` as a file name: characters other than letters, digits, "-", "_", "." become "_"."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))


def stable_key(**fields) -> str:
    """A short hash of JSON-serialisable fields, for cache file names."""
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
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
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_pickle(obj, path: Path) -> None:
    """Pickle ``obj`` to ``path`` atomically (a run's finished unit, not a cache entry)."""
    import pickle

    def write(tmp):
        with open(tmp, "wb") as f:
            pickle.dump(obj, f)
    atomic_write(path, write)


def atomic_write_json(obj, path: Path) -> None:
    """Write a JSON cache entry atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj)))


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
    reported once as a :class:`~editlib.base.errors.CacheWarning` naming the file and removed,
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
