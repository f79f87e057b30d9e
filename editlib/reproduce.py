"""Run the notebook suite with papermill and regenerate ``figures/``.

    python -m editlib.reproduce                         # every notebook, default models, quick profile
    python -m editlib.reproduce --profile paper         # sized to resolve the findings (figures/paper/)
    python -m editlib.reproduce --models gpt2-xl --device cuda --profile paper
    python -m editlib.reproduce --notebooks 03 -p n_cases 128 -p batch_sizes "[1, 4, 16, 64, 128]"

A profile (:mod:`editlib.profiles`) is a named set of notebook parameters; ``-p`` overrides
any of them. Executed notebooks are kept in ``<out>/executed/``; tables (CSV) and figures
(PNG, SVG) are written by the notebooks into ``<out>/`` (default ``figures/`` for the quick
profile, ``figures/<profile>/`` for the others).
"""
from __future__ import annotations

import argparse
import ast
import logging
import os
import time
from pathlib import Path

from .experiments import slug
from .profiles import PROFILES, get_profile

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"01": "01_objectives", "02": "02_edit_distribution", "03": "03_emmet_batch_size",
             "04": "04_sequential_editing"}
DEFAULT_MODELS = ["smollm2-135m", "gemma3-270m"]


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _plain(value):
    """Tuples as lists, recursively: papermill writes a tuple into the notebook as its
    string, so ``-p settings_spec "[('MEMIT', 'memit', {})]"`` would arrive as strings."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def default_out(profile: str = "quick") -> Path:
    return ROOT / "figures" / get_profile(profile).out_subdir


def run(models=DEFAULT_MODELS, notebooks=tuple(NOTEBOOKS), out_dir: Path | None = None,
        parameters: dict | None = None, notebook_dir: Path = ROOT / "notebooks",
        profile: str = "quick") -> list[Path]:
    """Execute each notebook for each model with the profile's parameters, then
    ``parameters`` (which win)."""
    import papermill as pm

    prof = get_profile(profile)
    out_dir = Path(out_dir or default_out(profile)).resolve()
    for var in ("EDITLIB_DATA", "EDITLIB_CACHE"):      # the kernels run in notebooks/: a relative path would move
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).resolve())
    (out_dir / "executed").mkdir(parents=True, exist_ok=True)
    done = []
    for model in models:
        for key in notebooks:
            name = NOTEBOOKS.get(key, key)
            key = next((k for k, v in NOTEBOOKS.items() if v == name), key)     # "03_emmet_batch_size" -> "03"
            src = notebook_dir / f"{name}.ipynb"
            dst = out_dir / "executed" / f"{name}_{slug(model)}.ipynb"
            params = _plain({"model": model, "out_dir": str(out_dir), **prof.parameters(key, model),
                             **(parameters or {})})
            t0 = time.time()
            logging.info("running %s on %s (%s profile)", name, model, prof.name)
            pm.execute_notebook(str(src), str(dst), parameters=params, cwd=str(notebook_dir),
                                progress_bar=True, log_output=True, kernel_name="python3")
            logging.info("%s on %s: %.0f s", name, model, time.time() - t0)
            done.append(dst)
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS), help="01 02 03 04 or notebook names")
    ap.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                    help="a named set of notebook parameters (editlib/profiles.py)")
    ap.add_argument("--out", default=None, help="default: figures/ (quick) or figures/<profile>/")
    ap.add_argument("--device", default=None)
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a notebook parameter (Python literal), as papermill -p")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    params = {k: _value(v) for k, v in a.parameter}
    if a.device:
        params["device"] = a.device
    t0 = time.time()
    for p in run(a.models, a.notebooks, a.out, params, profile=a.profile):
        print("executed", p)
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
