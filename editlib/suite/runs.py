"""One notebook run as data: a :class:`Task` is (notebook, model, profile, parameters),
and :func:`execute` runs it with papermill. The serial runner (:mod:`editlib.reproduce`)
and the Dask runner (:mod:`editlib.suite.cluster`) plan the same tasks and run the same function,
so a suite gives the same tables whichever ran it.
"""
from __future__ import annotations

import ast
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..base.errors import HyperparameterError
from ..experiments import experiments, get_experiment
from ..experiments.records import slug
from .profiles import get_profile

ROOT = Path(__file__).resolve().parents[2]
# the notebooks, as package data (in a checkout, a link to its notebooks/ folder): the suite runs from a wheel too
NOTEBOOK_DIR = (Path(__file__).resolve().parent / "notebooks").resolve()
NOTEBOOKS = {e.key: e.name for e in experiments()}        # key -> notebook stem, from the registry
PLACE_HOLDER = "out_dir"          # the one parameter that names where a run writes, not what it computes


def notebook_parameters(notebook: str, model: str | None = None, profile: str | None = None) -> dict:
    """The parameters a run of ``notebook`` ("04" or its file stem) gets: its experiment's
    declared defaults (what its ``parameters`` cell holds, :func:`parameters_cell`), and with
    ``profile`` that profile's values for ``model`` over them (what :func:`plan` passes to
    papermill, less ``out_dir``)."""
    experiment = get_experiment(notebook)
    if profile is None:
        return dict(experiment.defaults)
    return {**experiment.defaults, **get_profile(profile).parameters(experiment.key, model)}


def parameters_cell(notebook: str) -> dict:
    """The names and default values of a notebook file's ``parameters`` cell."""
    name = get_experiment(notebook).name
    nb = json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}


def plain(value):
    """Tuples as lists, recursively: papermill writes a tuple into the notebook as its
    string, so ``-p settings "[('mine', 'memit', {'mom2_update_weight': 1e3})]"`` would arrive as strings."""
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
    """The tasks of a suite, model by model (the quickstart on the first model only): each
    notebook's parameters are the model's, the profile's, then ``parameters`` (which win).
    Every notebook must exist and every parameter must be one its ``parameters`` cell has,
    of the right kind and range (:func:`check_parameters`), before anything runs."""
    prof = get_profile(profile)
    names = [notebook_name(key) for key in notebooks]
    known = {name: notebook_parameters(name) for name in names}        # each parameters cell, read once
    given = _given_to(known, parameters or {})
    tasks = []
    for i, model in enumerate(models):
        for name in names:
            experiment = get_experiment(name)
            if experiment.once_per_suite and i > 0:
                continue
            params = plain({"model": model, **prof.parameters(name, model), **given[name]})
            check_parameters(name, params, known[name])
            tasks.append(Task(name, model, prof.name, params))
    return tasks


def _given_to(known: dict[str, dict], parameters: dict) -> dict[str, dict]:
    """The caller's parameters each notebook gets: those its ``parameters`` cell (``known``:
    notebook -> defaults) has. A name that no notebook of the run has is an error, with a
    "did you mean"."""
    import difflib

    names = list(known)
    every = sorted(set().union(*known.values())) if known else []
    for p in parameters:
        if p != PLACE_HOLDER and not any(p in k for k in known.values()):
            close = difflib.get_close_matches(p, every, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise HyperparameterError(f"no notebook of this run ({', '.join(names)}) has a parameter {p!r}: {hint}"
                                      f"their parameters are {', '.join(every)}")
    return {name: {p: v for p, v in parameters.items() if p in known[name]} for name in names}


def notebook_name(key: str) -> str:
    """The notebook a key ("NN") or stem ("NN_what") names; an error listing
    the notebooks there are otherwise."""
    name = NOTEBOOKS.get(str(key), str(key))
    if name not in NOTEBOOKS.values() or not (NOTEBOOK_DIR / f"{name}.ipynb").exists():
        raise HyperparameterError(f"no notebook {key!r}; choose from {', '.join(NOTEBOOKS)} or "
                                  f"{', '.join(NOTEBOOKS.values())}")
    return name


# parameters whose values may be of another kind than their default's
KINDS = {"generation": (bool, int), "scored": (int, type(None)), "layers": (str, list), "modes": (list,),
         "split": (str, type(None))}
# lowest allowed value of counts and sizes (a list: of each element)
LOWEST = {"n_cases": 1, "batch_size": 1, "n_batches": 1, "retention_every": 1, "ability_every": 1, "candidates": 1,
          "new_tokens": 1, "gen_tokens": 1, "ppl_tokens": 1, "scored": 1, "retention": 0, "ge_cases": 0,
          "generation": 0, "seed": 0, "batch_sizes": 1, "cond_batch_sizes": 1}


def _kinds(default) -> tuple[type, ...]:
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, int):
        return (int,)
    if isinstance(default, float):
        return (int, float)
    return (type(default),)


def check_parameters(notebook: str, params: dict, defaults: dict | None = None) -> None:
    """Refuse, before a kernel starts, what papermill would pass on silently: a name the
    notebook's ``parameters`` cell does not have (with a "did you mean"), a value of
    another kind than the default's (``n_cases="abc"``), a count or size below its
    lowest value (``n_cases=-3``). ``defaults``: the notebook's parameters cell, when read
    already."""
    import difflib

    defaults = notebook_parameters(notebook) if defaults is None else defaults
    for name, value in params.items():
        if name == PLACE_HOLDER:
            continue
        if name not in defaults:
            close = difflib.get_close_matches(name, list(defaults), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise HyperparameterError(f"{notebook} has no parameter {name!r}: {hint}its parameters are "
                                      f"{', '.join(defaults)}")
        default = defaults[name]
        kinds = KINDS.get(name) or (None if default is None else _kinds(default))
        if kinds and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            raise HyperparameterError(f"{notebook}: {name}={value!r} should be "
                                      f"{' or '.join(k.__name__ for k in kinds)} (its default is {default!r})")
        low = LOWEST.get(name)
        values = value if isinstance(value, list) else [value]
        if low is not None and any(isinstance(v, (int, float)) and not isinstance(v, bool) and v < low
                                   for v in values):
            raise HyperparameterError(f"{notebook}: {name}={value!r} is below {low}")
        if name in ("batch_sizes", "cond_batch_sizes") and not all(
                isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise HyperparameterError(f"{notebook}: {name}={value!r} must be a list of whole batch sizes")


def absolute_env() -> None:
    """The kernels run in notebooks/: a relative EDITLIB_DATA or EDITLIB_CACHE would move."""
    for var in ("EDITLIB_DATA", "EDITLIB_CACHE"):
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).resolve())


def execute(task: Task, out_dir: Path, notebook_dir: Path = NOTEBOOK_DIR, progress: bool = True) -> Path:
    """Run ``task`` with papermill, writing the executed notebook to
    ``<out_dir>/executed/`` and the notebook's tables and figures to ``out_dir``.
    Raises what papermill raises when a cell fails (the failing notebook is written).
    The executed notebook names no path of this machine (:func:`tidy_notebook`)."""
    import papermill as pm

    absolute_env()
    out_dir = Path(out_dir).resolve()
    notebook_dir = Path(notebook_dir).resolve()
    dst = task.executed(out_dir)
    dst.parent.mkdir(parents=True, exist_ok=True)
    where = os.path.relpath(out_dir, notebook_dir)          # as the kernel (cwd notebooks/) sees it
    try:
        pm.execute_notebook(str(notebook_dir / f"{task.notebook}.ipynb"), str(dst),
                            parameters={**task.parameters, PLACE_HOLDER: where}, cwd=str(notebook_dir),
                            progress_bar=progress, log_output=progress, kernel_name="python3")
    finally:
        if dst.exists():
            tidy_notebook(dst, notebook_dir.parent)
    return dst


def _machine_paths(root: Path) -> list[tuple[str, str]]:
    """(absolute path, what stands for it) of this machine, longest first: the installed
    packages, the Python prefix, the checkout, the home folder."""
    import site
    import sys
    import sysconfig

    places = [(p, "<site-packages>") for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()}]
    places += [(sys.prefix, "<python>"), (sys.base_prefix, "<python>"), (str(root), "<repo>"),
               (str(Path.home()), "~"), (tempfile.gettempdir(), "<tmp>")]
    return sorted({(str(p), r) for p, r in places if p and len(str(p)) > 1}, key=lambda x: -len(x[0]))


def _terminal_text(text: str) -> str:
    """What a terminal would show of text progress bars: per line, the part after the last
    carriage return, cursor-movement codes dropped."""
    text = text.replace("\x1b[A", "")
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    # tqdm's "IProgress not found" (a kernel without ipywidgets) and the import line it quotes
    noise = ("TqdmWarning: IProgress not found", "import tqdm as notebook_tqdm")
    lines = [x for x in lines if not any(n in x for n in noise)]
    kept: list[str] = []
    for line in lines:                  # successive states of one bar: its last one
        bar = line.split(":", 1)[0] if "%|" in line else None
        if bar is not None and kept and "%|" in kept[-1] and kept[-1].split(":", 1)[0] == bar:
            kept[-1] = line
        else:
            kept.append(line)
    return "\n".join(kept)


def tidy_notebook(path: Path, root: Path = ROOT) -> None:
    """Rewrite an executed notebook so that it holds no path of the machine that ran it:
    papermill's input/output paths become relative to the checkout, any other absolute
    path of this machine is replaced by what stands for it (``<repo>``,
    ``<site-packages>``, ...); consecutive stream outputs are joined and text progress
    bars shown as a terminal would show them. The notebook's results are not touched."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    root = Path(root).resolve()
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if meta.get(key) and Path(meta[key]).is_absolute():
            p = Path(meta[key])
            meta[key] = p.relative_to(root).as_posix() if p.is_relative_to(root) else p.name
    params = meta.get("parameters", {})
    if isinstance(params.get(PLACE_HOLDER), str) and Path(params[PLACE_HOLDER]).is_absolute():
        params[PLACE_HOLDER] = os.path.relpath(params[PLACE_HOLDER], root / "notebooks")
    places = _machine_paths(root)

    def clean(text: str) -> str:
        for place, stand_in in places:          # only where the path starts (not "../tmp" for "/tmp")
            text = re.sub(r"(?<![\w./~-])" + re.escape(place) + r"(?![\w-])", stand_in, text)
        return text

    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace(f'"{root}/', '"../').replace(f'"{root}"', '".."')
        cell.source = clean(cell.source)
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                if outputs and outputs[-1].get("output_type") == "stream" and outputs[-1]["name"] == out["name"]:
                    outputs[-1]["text"] += out["text"]
                    continue
            outputs.append(out)
        for out in outputs:
            if out.get("output_type") == "stream":
                out["text"] = clean(_terminal_text(out["text"]))
            for mime, value in out.get("data", {}).items():
                if isinstance(value, str) and not mime.startswith("image/"):
                    out["data"][mime] = clean(value)
            if "traceback" in out:
                out["traceback"] = [clean(t) for t in out["traceback"]]
        if "outputs" in cell:
            cell.outputs = outputs
    nbformat.write(nb, path)


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
