"""Run the notebook suite with papermill and regenerate ``figures/``.

    python -m editlib.reproduce                         # every notebook, default models, quick profile
    python -m editlib.reproduce --profile paper         # sized to resolve the findings (figures/paper/)
    python -m editlib.reproduce --models gpt2-xl --device cuda --profile paper
    python -m editlib.reproduce --models meta-llama/Llama-2-7b-hf --device auto   # blocks over all GPUs
    python -m editlib.reproduce --notebooks 03 -p n_cases 128 -p batch_sizes "[1, 4, 16, 64, 128]"
    python -m editlib.reproduce --scheduler local --workers 2    # the runs as tasks on a Dask cluster

A profile (:mod:`editlib.suite.profiles`) is a named set of notebook parameters; ``-p`` overrides
any of them. Executed notebooks are kept in ``<out>/executed/``; tables (CSV) and figures
(PNG, SVG) are written by the notebooks into ``<out>/`` (default ``figures/`` for the quick
profile, ``figures/<profile>/`` for the others). Without ``--scheduler`` the runs go one
after the other in this process; with it each run is a task on a Dask cluster
(:mod:`editlib.suite.cluster`), failing tasks are reported without stopping the others, and runs
already complete in ``<out>`` are skipped unless ``--force``.
"""
from __future__ import annotations

import argparse
import ast
import logging
import sys
import time
from pathlib import Path

from ..base.errors import EditlibError
from ..engine.model.loading import check_model_name
from .profiles import PROFILES, get_profile
from .runs import NOTEBOOKS, ROOT, execute, plan

DEFAULT_MODELS = ["smollm2-135m", "gemma3-270m"]


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def default_out(profile: str = "quick") -> Path:
    return ROOT / "figures" / get_profile(profile).out_subdir


def run(models=DEFAULT_MODELS, notebooks=tuple(NOTEBOOKS), out_dir: Path | None = None,
        parameters: dict | None = None, notebook_dir: Path = ROOT / "notebooks",
        profile: str = "quick") -> list[Path]:
    """Execute each notebook for each model with the profile's parameters, then
    ``parameters`` (which win), one after the other; returns the executed notebooks."""
    out_dir = Path(out_dir or default_out(profile)).resolve()
    done = []
    for task in plan(models, notebooks, profile, parameters):
        t0 = time.time()
        logging.info("running %s on %s (%s profile)", task.notebook, task.model, task.profile)
        done.append(execute(task, out_dir, notebook_dir))
        logging.info("%s on %s: %.0f s", task.notebook, task.model, time.time() - t0)
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS), help="00 01 02 03 04 or notebook names")
    ap.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                    help="a named set of notebook parameters (editlib/suite/profiles.py)")
    ap.add_argument("--out", default=None, help="default: figures/ (quick) or figures/<profile>/")
    ap.add_argument("--device", default=None,
                    help="cuda, cpu, ...; auto: the model's blocks spread over all GPUs (device_map='auto')")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a notebook parameter (Python literal), as papermill -p")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run each notebook as a task on the Dask cluster at ADDRESS (tcp://host:port), or "
                         "'local' for a LocalCluster here (needs pip install 'editlib[distributed]')")
    ap.add_argument("--workers", type=int, default=None, help="with --scheduler local: worker processes (default 2)")
    ap.add_argument("--force", action="store_true", help="with --scheduler: run again runs already complete")
    ap.add_argument("--ship", action="store_true",
                    help="with --scheduler: workers send their files back even if they share the output folder")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    params = {k: _value(v) for k, v in a.parameter}
    if a.device:
        params["device"] = a.device
    try:                                  # everything the run needs, checked before any kernel starts
        for model in a.models:
            check_model_name(model)
        tasks = plan(a.models, a.notebooks, a.profile, params)
    except EditlibError as e:
        sys.exit(f"error: {e}")
    t0 = time.time()
    if a.scheduler is None:
        for p in run(a.models, a.notebooks, a.out, params, profile=a.profile):
            print("executed", p)
        print(f"done in {time.time() - t0:.0f} s")
        return
    from .cluster import ClusterError, run_on_cluster, summary

    try:
        outcomes = run_on_cluster(tasks, Path(a.out or default_out(a.profile)), a.scheduler, a.workers, a.force, a.ship)
    except ClusterError as e:
        sys.exit(f"error: {e}")
    print(summary(outcomes))
    failed = [o for o in outcomes if o.status == "failed"]
    print(f"done in {time.time() - t0:.0f} s: {len(outcomes) - len(failed)} of {len(outcomes)} complete")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
