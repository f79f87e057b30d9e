"""Run the notebook suite with papermill and regenerate ``figures/``.

    python -m editlib.reproduce                         # every notebook, default models, quick profile
    python -m editlib.reproduce --profile paper         # sized to resolve the findings (figures/paper/)
    python -m editlib.reproduce --models gpt2-xl --device cuda --profile paper
    python -m editlib.reproduce --models meta-llama/Llama-2-7b-hf --device auto   # blocks over all GPUs
    python -m editlib.reproduce --notebooks 03 -p n_cases 128 -p batch_sizes "[1, 4, 16, 64, 128]"
    python -m editlib.reproduce --scheduler local --workers 2    # the runs as tasks on a Dask cluster
    python -m editlib.reproduce --profile paper --models gemma3-270m --resume   # go on after a stop
    python -m editlib.reproduce --profile paper --models gemma3-270m --status   # what is done, what is left
    python -m editlib.reproduce --profile paper --models gemma3-270m --pack state.tar.gz     # to another machine
    python -m editlib.reproduce --profile paper --models gemma3-270m --unpack state.tar.gz   # ... and back

A profile (:mod:`editlib.suite.profiles`) is a named set of notebook parameters; ``-p`` overrides
any of them. Executed notebooks are kept in ``<out>/executed/``; tables (CSV) and figures
(PNG, SVG) are written by the notebooks into ``<out>/`` (default ``figures/`` for the quick
profile, ``figures/<profile>/`` for the others). Without ``--scheduler`` the runs go one
after the other in this process; with it each run is a task on a Dask cluster
(:mod:`editlib.suite.cluster`), failing tasks are reported without stopping the others, and runs
already complete in ``<out>`` are skipped unless ``--force``.

A run stopped at any point (killed, the machine switched off) and started again with the same
command goes on from its last finished unit (:mod:`editlib.experiments.journal`); ``--resume``
also skips the notebooks already complete in ``<out>``, and ``--status`` says, per model and
notebook, what is done, what is partial and an estimate of what is left, without running anything.
``--pack`` writes the partial runs and the cache entries they need into one archive, for a
machine that is wiped before the run ends; ``--unpack`` puts them back (:mod:`editlib.suite.carry`).
"""
from __future__ import annotations

import argparse
import ast
import json
import logging
import sys
import time
from pathlib import Path

from ..base.errors import EditlibError
from ..engine.model.loading import check_model_name
from ..experiments.journal import PARTIAL, progress
from .profiles import PROFILES, get_profile
from .runs import NOTEBOOK_DIR, NOTEBOOKS, execute, is_done, plan

DEFAULT_MODELS = ["smollm2-135m", "gemma3-270m"]


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def default_out(profile: str = "quick") -> Path:
    """``figures/`` (quick) or ``figures/<profile>/`` under the current directory."""
    return Path("figures") / get_profile(profile).out_subdir


def run(models=DEFAULT_MODELS, notebooks=tuple(NOTEBOOKS), out_dir: Path | None = None,
        parameters: dict | None = None, notebook_dir: Path = NOTEBOOK_DIR,
        profile: str = "quick", resume: bool = False) -> list[Path]:
    """Execute each notebook for each model with the profile's parameters, then
    ``parameters`` (which win), one after the other; returns the executed notebooks. With
    ``resume``, a notebook already complete in ``out_dir`` (same parameters) is not run again."""
    out_dir = Path(out_dir or default_out(profile)).resolve()
    done = []
    for task in plan(models, notebooks, profile, parameters):
        if resume and is_done(task, out_dir):
            logging.info("%s on %s: complete in %s, skipped", task.notebook, task.model, out_dir)
            done.append(task.executed(out_dir))
            continue
        t0 = time.time()
        logging.info("running %s on %s (%s profile)", task.notebook, task.model, task.profile)
        done.append(execute(task, out_dir, notebook_dir))
        logging.info("%s on %s: %.0f s", task.notebook, task.model, time.time() - t0)
    return done


def _duration(seconds: float) -> str:
    if seconds != seconds:                  # NaN: nothing finished to estimate from
        return "unknown"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def _as_run(task) -> dict:
    """The parameters a task's experiment runs with, as its journal records them."""
    from ..experiments import get_experiment

    full = {**get_experiment(task.notebook).defaults, **task.parameters}
    return json.loads(json.dumps({k: v for k, v in full.items() if k != "out_dir"}, default=str))


def status(tasks, out_dir: Path) -> str:
    """Per model and notebook: done (complete in ``out_dir``), partial (units done of those
    expected, their time and an estimate of what is left: their mean time per unit × the
    units left) or not started."""
    lines = [f"{'model':<16} {'notebook':<24} state"]
    for task in tasks:
        part = progress(Path(out_dir) / PARTIAL / task.name)
        if is_done(task, out_dir):
            state = "done"
        elif part is not None:
            state = (f"partial: {part['done']} of {part['expected']} units in {_duration(part['seconds'])}, "
                     f"about {_duration(part['left_s'])} left")
            if part["parameters"] != _as_run(task):
                state += " (made with other parameters: this run would refuse it)"
        else:
            state = "not started"
        lines.append(f"{task.model:<16} {task.notebook:<24} {state}")
    return "\n".join(lines)


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
    ap.add_argument("--resume", action="store_true",
                    help="skip the notebooks already complete in the output folder (a stopped notebook always "
                         "goes on from its last finished unit)")
    ap.add_argument("--status", action="store_true",
                    help="say what is done, partial (with an estimate of what is left) or not started; run nothing")
    ap.add_argument("--ship", action="store_true",
                    help="with --scheduler: workers send their files back even if they share the output folder")
    ap.add_argument("--pack", metavar="ARCHIVE",
                    help="write the partial runs of these notebooks and the z and templates they need into ARCHIVE "
                         "(.tar.gz), to resume on another machine; run nothing")
    ap.add_argument("--unpack", metavar="ARCHIVE",
                    help="put an archive written by --pack back (keeping what is on disk); run nothing")
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
    out = Path(a.out or default_out(a.profile)).resolve()
    if a.pack or a.unpack:
        from . import carry

        try:
            info = carry.pack(a.pack, out, [t.name for t in tasks]) if a.pack else carry.unpack(a.unpack, out)
        except (EditlibError, OSError, ValueError) as e:
            sys.exit(f"error: {e}")
        print(json.dumps(info, indent=1))
    if a.status or a.pack or a.unpack:
        print(status(tasks, out))
        return
    t0 = time.time()
    if a.scheduler is None:
        for p in run(a.models, a.notebooks, a.out, params, profile=a.profile, resume=a.resume):
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
