"""One notebook run as data: a :class:`Task` is (notebook, model, profile, parameters),
and :func:`execute` runs it with papermill. The serial runner (:mod:`editlib.reproduce`)
and the Dask runner (:mod:`editlib.cluster`) plan the same tasks and run the same function,
so a suite gives the same tables whichever ran it.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .experiments import slug
from .profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"01": "01_objectives", "02": "02_edit_distribution", "03": "03_emmet_batch_size",
             "04": "04_sequential_editing"}
PLACE_HOLDER = "out_dir"          # the one parameter that names where a run writes, not what it computes


def notebook_parameters(notebook: str, model: str | None = None, profile: str | None = None) -> dict:
    """The parameters a run of ``notebook`` ("04" or its file stem) gets: the names and
    default values of its ``parameters`` cell, and with ``profile`` that profile's values
    for ``model`` over them (what :func:`plan` passes to papermill, less ``out_dir``)."""
    name = NOTEBOOKS.get(notebook, notebook)
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    defaults = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}
    if profile is None:
        return defaults
    key = next((k for k, v in NOTEBOOKS.items() if v == name), notebook)
    return {**defaults, **get_profile(profile).parameters(key, model)}


def plain(value):
    """Tuples as lists, recursively: papermill writes a tuple into the notebook as its
    string, so ``-p settings_spec "[('MEMIT', 'memit', {})]"`` would arrive as strings."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Task:
    """One papermill run: ``notebook`` (a file stem in ``notebooks/``) on ``model`` with
    the full parameter set (the profile's, then the caller's overrides)."""

    notebook: str
    model: str
    profile: str
    parameters: dict = field(hash=False)

    @property
    def name(self) -> str:
        return f"{self.notebook}_{slug(self.model)}"

    def executed(self, out_dir: Path) -> Path:
        return Path(out_dir) / "executed" / f"{self.name}.ipynb"


def plan(models, notebooks, profile: str = "quick", parameters: dict | None = None) -> list[Task]:
    """The tasks of a suite, model by model: each notebook's parameters are the model's,
    the profile's, then ``parameters`` (which win)."""
    prof = get_profile(profile)
    tasks = []
    for model in models:
        for key in notebooks:
            name = NOTEBOOKS.get(key, key)
            key = next((k for k, v in NOTEBOOKS.items() if v == name), key)     # "03_emmet_batch_size" -> "03"
            params = plain({"model": model, **prof.parameters(key, model), **(parameters or {})})
            tasks.append(Task(name, model, prof.name, params))
    return tasks


def absolute_env() -> None:
    """The kernels run in notebooks/: a relative EDITLIB_DATA or EDITLIB_CACHE would move."""
    for var in ("EDITLIB_DATA", "EDITLIB_CACHE"):
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).resolve())


def execute(task: Task, out_dir: Path, notebook_dir: Path = ROOT / "notebooks", progress: bool = True) -> Path:
    """Run ``task`` with papermill, writing the executed notebook to
    ``<out_dir>/executed/`` and the notebook's tables and figures to ``out_dir``.
    Raises what papermill raises when a cell fails (the failing notebook is written)."""
    import papermill as pm

    absolute_env()
    out_dir = Path(out_dir).resolve()
    dst = task.executed(out_dir)
    dst.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(Path(notebook_dir) / f"{task.notebook}.ipynb"), str(dst),
                        parameters={**task.parameters, PLACE_HOLDER: str(out_dir)}, cwd=str(notebook_dir),
                        progress_bar=progress, log_output=progress, kernel_name="python3")
    return dst


def is_done(task: Task, out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a complete run of ``task``: its executed notebook exists,
    ran with the same parameters (where it wrote aside) and has no failed cell."""
    import nbformat

    path = task.executed(out_dir)
    if not path.exists():
        return False
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook is not a finished run
        return False
    ran = dict(nb.metadata.get("papermill", {}).get("parameters", {}))
    ran.pop(PLACE_HOLDER, None)
    if ran != plain(task.parameters):
        return False
    for cell in nb.cells:
        if cell.get("metadata", {}).get("papermill", {}).get("exception") or any(
                o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return False
    return bool(nb.metadata.get("papermill", {}).get("end_time"))


@dataclass
class Outcome:
    """What became of a task: ``status`` "done", "failed" or "skipped"; ``files`` (relative
    path → bytes) when the worker could not write to the client's folder and sent them."""

    task: Task
    status: str
    seconds: float = 0.0
    error: str = ""
    where: str = ""
    files: dict = field(default_factory=dict)


def run_task(task: Task, out_dir: str, shared_marker: str | None, threads: int | None = None,
             notebook_dir: str | None = None) -> Outcome:
    """The worker side of a distributed run: never raises, so one failing notebook is
    reported while the others go on. Writes into ``out_dir`` when this worker sees the
    client's marker file there (a shared filesystem); otherwise runs in a temporary
    folder and returns the files it wrote."""
    import socket

    if threads:                                   # each kernel its share of the cores (inherited env)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    shared = shared_marker is not None and Path(shared_marker).exists()
    where = out_dir if shared else tempfile.mkdtemp(prefix=f"editlib-{task.name}-")
    t0 = time.time()
    outcome = Outcome(task, "done", where=f"{socket.gethostname()}:{where}")
    try:
        execute(task, Path(where), Path(notebook_dir) if notebook_dir else ROOT / "notebooks", progress=False)
    except BaseException as e:  # noqa: BLE001 - reported per task, the run goes on
        outcome.status = "failed"
        outcome.error = f"{type(e).__name__}: {e}"[-4000:]
    outcome.seconds = time.time() - t0
    if not shared:
        root = Path(where)
        outcome.files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        shutil.rmtree(root, ignore_errors=True)
    return outcome
