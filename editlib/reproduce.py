"""Run the notebook suite with papermill and regenerate ``figures/``.

    python -m editlib.reproduce                         # every notebook, default models
    python -m editlib.reproduce --models gpt2-xl --device cuda
    python -m editlib.reproduce --notebooks 03 -p n_cases 128 -p batch_sizes "[1, 4, 16, 64, 128]"

Executed notebooks are kept in ``<out>/executed/``; tables (CSV) and figures (PNG, SVG)
are written by the notebooks into ``<out>/``.
"""
from __future__ import annotations

import argparse
import ast
import logging
import time
from pathlib import Path

from .experiments import slug

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"01": "01_objectives", "02": "02_edit_distribution", "03": "03_emmet_batch_size"}
DEFAULT_MODELS = ["smollm2-135m", "gemma3-270m"]


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run(models=DEFAULT_MODELS, notebooks=tuple(NOTEBOOKS), out_dir: Path = ROOT / "figures",
        parameters: dict | None = None, notebook_dir: Path = ROOT / "notebooks") -> list[Path]:
    import papermill as pm

    out_dir = Path(out_dir).resolve()
    (out_dir / "executed").mkdir(parents=True, exist_ok=True)
    done = []
    for model in models:
        for key in notebooks:
            name = NOTEBOOKS.get(key, key)
            src = notebook_dir / f"{name}.ipynb"
            dst = out_dir / "executed" / f"{name}_{slug(model)}.ipynb"
            params = {"model": model, "out_dir": str(out_dir), **(parameters or {})}
            t0 = time.time()
            logging.info("running %s on %s", name, model)
            pm.execute_notebook(str(src), str(dst), parameters=params, cwd=str(notebook_dir),
                                progress_bar=True, log_output=True, kernel_name="python3")
            logging.info("%s on %s: %.0f s", name, model, time.time() - t0)
            done.append(dst)
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS), help="01 02 03 or notebook names")
    ap.add_argument("--out", default=str(ROOT / "figures"))
    ap.add_argument("--device", default=None)
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a notebook parameter (Python literal), as papermill -p")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    params = {k: _value(v) for k, v in a.parameter}
    if a.device:
        params["device"] = a.device
    t0 = time.time()
    for p in run(a.models, a.notebooks, Path(a.out), params):
        print("executed", p)
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
