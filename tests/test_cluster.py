"""The suite as tasks on a Dask cluster (editlib.suite.cluster): a LocalCluster of two workers
gives the serial runner's results (to float32 rounding: its kernels run on fewer
threads), a failing task is reported while the others finish, finished runs are skipped,
and a scheduler that is not there is a clear error."""
import sys

import pytest

from editlib.suite import cluster
from editlib.suite.agreement import assert_same_results
from editlib.suite.reproduce import NOTEBOOKS, main
from editlib.suite.runs import Task, is_done, plan

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]
pytest.importorskip("dask.distributed")


def test_a_local_cluster_of_two_workers_gives_the_serial_runners_tables(tiny_suite, tmp_path):
    serial_dir, _ = tiny_suite
    tasks = plan(["smollm2-135m"], list(NOTEBOOKS), "tiny")
    outcomes = cluster.run_on_cluster(tasks, tmp_path, "local", workers=2)
    assert [o.status for o in outcomes] == ["done"] * len(tasks), cluster.summary(outcomes)
    assert len({o.where.split(":", 1)[0] for o in outcomes}) == 1          # this machine, the shared folder
    # the serial kernel runs on 2 threads, each worker's on 1: the same case ids, settings, ES/PS/NS per case
    # and refused solves; every other number equal to float32 rounding (editlib.suite.agreement)
    assert_same_results(serial_dir, tmp_path)
    assert len(list(serial_dir.glob("*.csv"))) >= 2 * len(NOTEBOOKS)
    for t in tasks:
        assert is_done(t, tmp_path)
        assert (tmp_path / "executed" / f"{t.name}.ipynb").exists()

    # a re-run skips them all without reaching any scheduler; other parameters are a new run
    again = cluster.run_on_cluster(tasks, tmp_path, "tcp://127.0.0.1:9", timeout="1s")
    assert [o.status for o in again] == ["skipped"] * len(tasks)
    changed = Task(tasks[0].notebook, tasks[0].model, "tiny", {**tasks[0].parameters, "seed": 7})
    assert not is_done(changed, tmp_path)


def test_a_failing_task_is_reported_and_the_others_finish_their_files_sent_back(tmp_path):
    good, bad = plan(["smollm2-135m", "no-such-model"], ["02"], "tiny")
    outcomes = cluster.run_on_cluster([bad, good], tmp_path, "local", workers=2, ship=True)
    assert [o.status for o in outcomes] == ["failed", "done"]
    assert "ModelLoadError" in outcomes[0].error and "no-such-model" in outcomes[0].error
    assert "/tmp" in outcomes[1].where or "editlib-" in outcomes[1].where    # ran in the worker's own folder
    assert (tmp_path / "02_edit_distribution_smollm2-135m.csv").exists()    # ... and the client wrote its files
    assert is_done(good, tmp_path) and not is_done(bad, tmp_path)
    text = cluster.summary(outcomes)
    assert text.splitlines()[0].startswith("failed") and "ModelLoadError" in text


def test_a_scheduler_that_is_not_there_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--scheduler", "tcp://127.0.0.1:9", "--notebooks", "02", "--models", "smollm2-135m",
              "--profile", "tiny", "--out", str(tmp_path)])
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in str(exc.value.code)
    assert "dask scheduler" in str(exc.value.code)


def test_without_dask_the_distributed_runner_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)         # as if not installed
    with pytest.raises(cluster.ClusterError, match=r"pip install 'editlib\[distributed\]'"):
        cluster.run_on_cluster(plan(["smollm2-135m"], ["02"], "tiny"), tmp_path, "local")


def test_the_protocol_check_lets_a_real_scheduler_through():
    """probe_scheduler reads a Dask scheduler's handshake (it must not refuse the real thing)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", dashboard_address=None) as local:
        assert local.scheduler_address.startswith("tcp://")
        cluster.probe_scheduler(local.scheduler_address)
    with pytest.raises(cluster.ClusterError, match="not a scheduler address"):
        cluster.probe_scheduler("tcp://127.0.0.1")
