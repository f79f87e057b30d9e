"""A run killed at any point (SIGKILL: after a unit is written, between a unit's work and its
writing, half-way through the atomic write) and started again with the same command goes on
from its last finished unit, never redoes one, and writes the tables an uninterrupted run
writes; partial state made by another run is refused, naming what differs."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_tables

from editlib.experiments import get_experiment
from editlib.experiments.journal import PARTIAL, Journal, PartialStateError, progress
from editlib.suite import reproduce
from editlib.suite.runs import plan

# The child: run one planned notebook's experiment as the notebook would; with KILL set,
# SIGKILL itself at a chosen point of the n-th unit it writes. Every unit written is logged.
CHILD = r"""
import json, os, signal, sys
from pathlib import Path
import editlib.base.cache as cache
import editlib.experiments.journal as journal
from editlib.experiments import get_experiment

task = json.loads(sys.argv[1])
log = Path(os.environ["UNIT_LOG"])
kill = json.loads(os.environ.get("KILL", "null"))          # [when, n]: when in "after", "before", "inside"
saved = [0]
save, replace = journal.Journal.save, cache.os.replace

def dying_save(self, unit, result, seconds):
    saved[0] += 1
    if kill and kill[0] == "before" and saved[0] == kill[1]:
        os.kill(os.getpid(), signal.SIGKILL)                   # the unit's work done, not yet written
    if kill and kill[0] == "inside" and saved[0] == kill[1]:
        def half(src, dst):                                    # the temporary file written, not renamed
            os.kill(os.getpid(), signal.SIGKILL)
        cache.os.replace = half
    save(self, unit, result, seconds)
    with open(log, "a") as f:
        f.write(unit + "\n")
    if kill and kill[0] == "after" and saved[0] == kill[1]:
        os.kill(os.getpid(), signal.SIGKILL)

journal.Journal.save = dying_save
get_experiment(task["notebook"]).run(**task["parameters"])
"""

OVERRIDES = {"v_num_grad_steps": 3, "mom2_dataset": "model-samples", "mom2_n_tokens": 3000}


def _task(out_dir: Path, notebook: str):
    params = {"01": {"n_cases": 3, "methods": ["rome", "memit", "emmet"], "layers": [1], "edit_overrides": OVERRIDES},
              "04": {"batch_size": 2, "n_batches": 2, "settings": ["memit", "emmet_ridge", "alphaedit"],
                     "layers": [1], "ge_cases": 0, "edit_overrides": OVERRIDES}}[notebook]
    (task,) = plan(["tiny-llama"], [notebook], "tiny", params)
    return task, {"notebook": task.notebook, "parameters": {**task.parameters, "out_dir": str(out_dir)}}


def _run(spec, tmp_path, kill=None, cache="cache"):
    env = {**os.environ, "EDITLIB_CACHE": str(tmp_path / cache), "UNIT_LOG": str(tmp_path / "units.log"),
           "OMP_NUM_THREADS": str(__import__("torch").get_num_threads())}
    if kill:
        env["KILL"] = json.dumps(kill)
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], env=env, capture_output=True, text=True,
                          timeout=600)
    if kill:
        assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    else:
        assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("notebook, kills", [
    ("01", [["after", 3], ["before", 2], ["inside", 3]]),       # units: unedited + 3 methods × 3 cases
    ("04", [["before", 2], ["after", 1]]),                      # units: unedited + a sequence per setting
])
def test_a_killed_run_goes_on_where_it_stopped_and_writes_the_uninterrupted_tables(tmp_path, notebook, kills):
    task, spec = _task(tmp_path / "out", notebook)
    partial = tmp_path / "out" / PARTIAL / task.name
    seen = {}
    for kill in kills:
        _run(spec, tmp_path, kill)
        state = progress(partial)
        assert state is not None and 0 < state["done"] < state["expected"]
        line = reproduce.status([task], tmp_path / "out").splitlines()[1]
        assert f"partial: {state['done']} of {state['expected']} units" in line and "other parameters" not in line
        for p in partial.glob("*.pkl"):                  # what is written stays as it was written
            stamp = (p.stat().st_ino, p.stat().st_mtime_ns)
            assert seen.setdefault(p.name, stamp) == stamp
    _run(spec, tmp_path)
    assert not partial.exists()                                            # the tables are written: units gone
    units = (tmp_path / "units.log").read_text().splitlines()
    assert len(units) == len(set(units)) == state["expected"]              # each unit done once, none redone
    reference = tmp_path / "reference"
    _, ref_spec = _task(reference, notebook)
    _run(ref_spec, tmp_path, cache="cache-ref")
    mine, theirs = run_tables(tmp_path / "out", task.name), run_tables(reference, task.name)
    assert list(mine) == list(theirs) and len(mine) >= 2
    for name in mine:
        pd.testing.assert_frame_equal(mine[name], theirs[name], check_exact=True, obj=name)


def test_partial_state_of_another_run_is_refused_naming_what_differs(tmp_path):
    identity = {"experiment": "01_objectives", "parameters": {"seed": 0, "n_cases": 8}, "cases": "abc",
                "weights": "w", "code": "c1", "torch": "2.13.0", "transformers": "5.0", "threads": 2}
    journal = Journal.open(tmp_path, "01_objectives_m", identity)
    journal.run("unedited", lambda: 1)
    assert Journal.open(tmp_path, "01_objectives_m", identity).run("unedited", lambda: 2) == 1      # read back
    changed = {**identity, "parameters": {"seed": 1, "n_cases": 8}, "code": "c2"}
    with pytest.raises(PartialStateError, match=r"code: 'c1' there, 'c2' now; parameters\.seed: 0 there, 1 now"):
        Journal.open(tmp_path, "01_objectives_m", changed)
    with pytest.raises(PartialStateError, match="threads: 2 there, 1 now"):
        Journal.open(tmp_path, "01_objectives_m", {**identity, "threads": 1})


def test_a_resumed_run_with_other_parameters_is_refused_before_any_edit(tmp_path):
    task, spec = _task(tmp_path / "out", "01")
    _run(spec, tmp_path, ["after", 2])
    spec["parameters"]["seed"] = 1
    with pytest.raises(PartialStateError, match=r"parameters\.seed: 0 there, 1 now"):
        get_experiment("01").run(**spec["parameters"])
    line = reproduce.status([task], tmp_path / "out").splitlines()[1]
    assert "partial: 2 of 10 units" in line
