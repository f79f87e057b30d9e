"""Resumable runs: a run's finished units on disk, so that a run stopped at any point (a
SIGKILL, a machine switched off) and started again with the same command does only what is
left.

A unit is what a driver finishes in one go: the unedited scores, a setting × case (single
edits), a setting × batch (batch edits), a whole setting's sequence (sequential edits), the
keys-only conditioning. Each is written as soon as it is done, atomically (a temporary file
renamed into place), to ``<out_dir>/.partial/<stem>/<unit>.pkl``, with the seconds it took.
A run reads back the units it finds and computes the others; the tables it writes are the
finished units' rows in the order an uninterrupted run writes them, so every per-case value
is the same (only timing and provenance columns can differ). The folder is removed once the
run's tables are written.

The folder's ``manifest.json`` says what its units were made with: the experiment, the
run's parameters (less ``out_dir``), a hash of the cases, the model's weights and the code
(editlib's sources), the torch and transformers versions and torch's thread count. A run
whose own identity differs in any of these refuses the folder with
:class:`PartialStateError`, naming what differs: partial state is never mixed in.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..base.cache import atomic_pickle, atomic_write_json, file_safe
from ..base.errors import EditlibError

PARTIAL = ".partial"           # under a run's out_dir


class PartialStateError(EditlibError, RuntimeError):
    """A run's partial state on disk was made by another run (parameters, data, model, code)."""


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of editlib's own sources (its ``.py`` and preset files): what the numbers are
    computed by, unchanged by commits that touch only docs, notebooks or figures."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cases_hash(cases: list[dict]) -> str:
    return hashlib.sha256(json.dumps(cases, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_identity(experiment: str, params: dict, cases: list[dict], model) -> dict:
    """What a run's units depend on: see the module's docstring."""
    import torch
    import transformers

    from ..engine.model.fingerprint import weights_fingerprint

    return {"experiment": experiment, "parameters": {k: v for k, v in params.items() if k != "out_dir"},
            "cases": cases_hash(cases), "weights": weights_fingerprint(model), "code": code_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "threads": torch.get_num_threads()}


def _differences(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{where}.{k}" if where else str(k))
        return out
    return [] if a == b else [f"{where}: {a!r} there, {b!r} now"]


@dataclass
class Journal:
    """The finished units of one run (``<out_dir>/.partial/<stem>/``)."""

    folder: Path
    identity: dict

    @classmethod
    def open(cls, out_dir, stem: str, identity: dict) -> Journal:
        """The run's folder, new or as a stopped run left it; refused when that run's identity
        differs from this one's."""
        folder = Path(out_dir) / PARTIAL / stem
        manifest = folder / "manifest.json"
        identity = json.loads(json.dumps(identity, default=str))            # as it reads back
        if manifest.exists():
            there = json.loads(manifest.read_text())["identity"]
            diff = _differences(there, identity)
            if diff:
                raise PartialStateError(
                    f"{folder} holds the finished units of another run of {stem}; it differs in "
                    + "; ".join(diff) + f". Remove the folder to start afresh (rm -r {folder}), or run as it did.")
        else:
            atomic_write_json({"identity": identity, "units": [], "started": time.time()}, manifest)
        return cls(folder, identity)

    def _path(self, unit: str) -> Path:
        return self.folder / f"{file_safe(unit)}.pkl"

    def expect(self, units: list[str]) -> None:
        """Record the units the run will do (what ``--status`` counts)."""
        manifest = self.folder / "manifest.json"
        blob = json.loads(manifest.read_text())
        known = list(dict.fromkeys(blob["units"] + list(units)))
        if known != blob["units"]:
            blob["units"] = known
            atomic_write_json(blob, manifest)

    def done(self, unit: str) -> bool:
        return self._path(unit).exists()

    def load(self, unit: str):
        with open(self._path(unit), "rb") as f:
            return pickle.load(f)["result"]

    def save(self, unit: str, result, seconds: float) -> None:
        atomic_pickle({"unit": unit, "result": result, "seconds": seconds}, self._path(unit))

    def run(self, unit: str, compute):
        """``compute()``'s result for ``unit``: read back when a stopped run finished it, else
        computed now and written before it is returned."""
        if self.done(unit):
            return self.load(unit)
        t0 = time.time()
        result = compute()
        self.save(unit, result, time.time() - t0)
        return result

    def finish(self) -> None:
        """The run's tables are written: its units are no longer needed."""
        shutil.rmtree(self.folder, ignore_errors=True)
        parent = self.folder.parent
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()


class NoJournal:
    """A run that keeps no partial state: every unit is computed."""

    def expect(self, units) -> None:
        pass

    def done(self, unit: str) -> bool:
        return False

    def run(self, unit: str, compute):
        return compute()

    def finish(self) -> None:
        pass


def progress(folder: Path) -> dict | None:
    """What a stopped (or running) run has finished: units done and expected, the seconds
    the done ones took, and an estimate of the seconds left (their mean × those left).
    None when ``folder`` holds no partial state."""
    manifest = Path(folder) / "manifest.json"
    if not manifest.exists():
        return None
    blob = json.loads(manifest.read_text())
    seconds = []
    for p in Path(folder).glob("*.pkl"):
        try:
            with open(p, "rb") as f:
                seconds.append(float(pickle.load(f)["seconds"]))
        except (OSError, EOFError, pickle.UnpicklingError, KeyError):
            continue
    expected = max(len(blob["units"]), len(seconds))
    mean = sum(seconds) / len(seconds) if seconds else float("nan")
    return {"done": len(seconds), "expected": expected, "seconds": sum(seconds),
            "left_s": mean * (expected - len(seconds)) if seconds else float("nan"),
            "parameters": blob["identity"].get("parameters", {})}


def frames(parts: list) -> pd.DataFrame:
    """Concatenate the non-empty frames of ``parts`` (units' rows) in order."""
    parts = [p for p in parts if p is not None and len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
