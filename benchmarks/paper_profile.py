"""Where a notebook's CPU time goes: one experiment run with its paper profile at a reduced
size, the time split into the phases of an edit and of its scoring.

    python benchmarks/paper_profile.py 01 [--model smollm2-135m] [--threads 2] \
        [-p n_cases 8] [-p generation 8] [--cold-z]

Phases (each call timed once, by the outermost phase it runs in):

- ``C0``: the covariance statistics (:func:`~editlib.engine.statistics.covariance.second_moments`);
- ``z``: the target values, per method (``z (rome_original)`` is the original ROME's own z);
- ``keys``: the keys written and the values read at the edit layers, per edit;
- ``solve``: the solver and the writes, per edit;
- ``scoring``: ES, PS, NS and the margins (teacher-forced probes);
- ``GE``: sampling for generation entropy;
- ``perplexity``: the held-out windows;
- ``conditioning``: 03's keys-only condition numbers;
- ``other``: what is left (setup, tables, claims, figures).

``--cold-z`` points the z cache at an empty folder for the run (C0, templates and the model
stay cached), so that z is computed as a first run computes it. Nothing else may run on the
machine while this one times.
"""
import argparse
import ast
import functools
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch


class Phases:
    """Seconds per phase; a call inside another phase's call counts for the outer one."""

    def __init__(self):
        self.seconds, self.calls, self.depth = defaultdict(float), defaultdict(int), 0

    def wrap(self, owner, name: str, phase):
        """Time ``owner.name`` as ``phase`` (a name, or a function of the call's arguments)."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if self.depth:
                return original(*args, **kwargs)
            label = phase(*args, **kwargs) if callable(phase) else phase
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= 1
                self.seconds[label] += time.perf_counter() - t0
                self.calls[label] += 1

        setattr(owner, name, timed)


def instrument() -> Phases:
    import importlib

    def module(name):          # the module itself (a package may re-export a function of the same name)
        return importlib.import_module(f"editlib.{name}")

    editor, evaluate, perplexity = module("engine.edit.editor"), module("evaluation.evaluate"), \
        module("evaluation.metrics.perplexity")
    drivers, disabling = module("experiments.drivers"), module("experiments.disabling")

    p = Phases()
    p.wrap(editor, "second_moments", "C0")
    p.wrap(editor.Editor, "_targets", lambda ed, *a, **k: "z" if ed.method.name != "rome_original"
           else "z (rome_original)")
    for name in ("keys_at", "values_at_last"):
        p.wrap(editor._EditPass, name, "keys")
    for name in ("solve_layer", "solve_joint"):
        p.wrap(editor._EditPass, name, "solve")
    p.wrap(evaluate, "probe_scores", "scoring")
    p.wrap(evaluate, "generation_scores", "GE")
    for owner in (perplexity, drivers, disabling):
        if hasattr(owner, "window_losses"):
            p.wrap(owner, "window_losses", "perplexity")
    p.wrap(drivers, "compute_keys", "conditioning")          # 03's keys-only conditioning
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", help="an experiment key (01, 02, 03, ...)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a parameter over the paper profile's (a Python literal)")
    ap.add_argument("--cold-z", action="store_true", help="compute z afresh (C0 and templates stay cached)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from editlib.base.paths import cache_dir

    cold = None
    if a.cold_z:
        warm = cache_dir("z").parent
        cold = Path(tempfile.mkdtemp(prefix="editlib-cold-z-"))
        for part in warm.iterdir():
            if part.name != "z":
                (cold / part.name).symlink_to(part)
        os.environ["EDITLIB_CACHE"] = str(cold)
    from editlib.experiments import get_experiment

    phases = instrument()
    e = get_experiment(a.notebook)
    params = {**e.profile_parameters("paper", a.model), "model": a.model,
              **{k: ast.literal_eval(v) for k, v in a.p}}
    out = Path(tempfile.mkdtemp(prefix="editlib-profile-"))
    t0 = time.perf_counter()
    e.run(**params, out_dir=str(out))
    total = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    if cold is not None:
        shutil.rmtree(cold, ignore_errors=True)
    named = sum(phases.seconds.values())
    print(f"\n{e.name} on {a.model}, paper profile with {dict(a.p)}, {a.threads} thread(s)"
          f"{', z cold' if a.cold_z else ''}: {total:.1f} s")
    print(f"{'phase':<20} {'seconds':>9} {'share':>7} {'calls':>7}")
    for label, s in sorted(phases.seconds.items(), key=lambda kv: -kv[1]):
        print(f"{label:<20} {s:9.1f} {s / total:7.1%} {phases.calls[label]:7d}")
    print(f"{'other':<20} {total - named:9.1f} {(total - named) / total:7.1%}")


if __name__ == "__main__":
    main()
