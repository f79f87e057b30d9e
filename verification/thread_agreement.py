"""How much the suite's numbers move with torch's thread count: runs the notebooks with
one profile (default tiny) once per thread count, each in its own process with
OMP_NUM_THREADS/MKL_NUM_THREADS set (the kernels inherit them) and its own empty cache
(C0, z and templates computed afresh; only the converted model is shared, linked from
$EDITLIB_CACHE/models), and prints, per table and
metric, the largest absolute and relative difference (editlib.suite.agreement). The identity
columns, ES/PS/NS per case and the refused solves must match exactly; the script fails
where they do not.

    python verification/thread_agreement.py [--threads 1 2] [--profile tiny] [--models smollm2-135m]
        [--out figures/performance/thread_agreement_tiny.csv]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from editlib.base.paths import cache_dir
from editlib.suite.agreement import ATOL, RTOL, compare_runs

ROOT = Path(__file__).resolve().parents[1]


def run_suite(threads: int, out: Path, profile: str, models: list[str], notebooks: list[str]) -> float:
    cache = out.parent / f"cache-{out.name}"
    cache.mkdir(parents=True)
    models_dir = cache_dir("models")
    (cache / "models").symlink_to(models_dir, target_is_directory=True)      # conversions only: no z, no C0
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "EDITLIB_CACHE": str(cache)}
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "editlib.reproduce", "--profile", profile, "--out", str(out),
                    "--models", *models, "--notebooks", *notebooks], env=env, check=True, cwd=ROOT)
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs=2, default=[1, 2])
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--models", nargs="+", default=["smollm2-135m"])
    ap.add_argument("--notebooks", nargs="+", default=["01", "02", "03", "04"])
    ap.add_argument("--out", default=str(ROOT / "figures" / "performance" / "thread_agreement_tiny.csv"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / f"threads{t}" for t in a.threads]
        for t, d in zip(a.threads, dirs):
            print(f"{t} thread(s): {run_suite(t, d, a.profile, a.models, a.notebooks):.0f} s", flush=True)
        diffs = compare_runs(*dirs)          # raises if identity columns or decisions differ
    diffs.insert(0, "threads", f"{a.threads[0]} vs {a.threads[1]}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    diffs.to_csv(a.out, index=False)
    pd.set_option("display.width", 200)
    print(diffs.to_string(index=False))
    per_metric = diffs.assign(what=diffs.metric.where(diffs.metric != "", diffs.column)).groupby("what")[
        ["max_abs_diff", "max_rel_diff", "beyond_tolerance"]].max()
    print(f"\nlargest difference per metric or column ({a.threads[0]} vs {a.threads[1]} threads, "
          f"identity columns and ES/PS/NS per case equal); tolerance rtol {RTOL:g}, atol {ATOL:g}:")
    print(per_metric.sort_values("max_rel_diff", ascending=False).to_string())
    print(f"written to {a.out}")


if __name__ == "__main__":
    main()
