"""Where editlib keeps things on disk. Three environment variables, all optional:

- ``EDITLIB_CACHE``: the one directory for every cache (converted models, covariance
  statistics, target values, context templates). Default ``~/.cache/editlib``.
- ``EDITLIB_DATA``: a directory holding data files (CounterFact, zsRE, text corpora).
- ``EDITLIB_RUNS``: where a notebook run without an ``out_dir`` writes its tables and
  figures (one new folder per run). Default ``./runs``.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DatasetError


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
            raise DatasetError(f"EDITLIB_DATA={os.environ['EDITLIB_DATA']!r} is not a directory (resolved from "
                               f"{Path.cwd()}: {given.resolve()}); point it at the data folder or unset it")
        dirs.append(given)
    dirs.append(cache_dir("data"))
    return dirs
