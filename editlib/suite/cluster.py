"""The notebook suite on a Dask distributed cluster: every (notebook, model, profile,
parameters) run is one task.

    python -m editlib.reproduce --scheduler local --workers 2          # a LocalCluster here
    python -m editlib.reproduce --scheduler tcp://head:8786 --profile paper

A cluster is started with ``dask scheduler`` on one machine and ``dask worker
tcp://head:8786 --nworkers 1 --nthreads 1`` per GPU (``CUDA_VISIBLE_DEVICES=i``) on each
(docs/distributed.md). Workers need editlib installed and their own ``EDITLIB_CACHE``
(the caches are safe under concurrent writers); ``EDITLIB_DATA`` where they have the data.

Each task writes its executed notebook, tables and figures into the output folder when the
worker shares it with the client (checked with a marker file the client writes there),
or else runs in a temporary folder and sends the files back for the client to write. A
failing task is reported and the others go on; a re-run skips the tasks whose outputs
are complete (:func:`editlib.suite.runs.is_done`) unless ``force``. Needs the optional extra:
``pip install 'editlib[distributed]'``.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from tqdm.auto import tqdm

from ..base.errors import EditlibError
from .runs import NOTEBOOK_DIR, Outcome, Task, execute, is_done

log = logging.getLogger(__name__)


class ClusterError(EditlibError, RuntimeError):
    """No Dask, or no scheduler at the address given."""


def _dask():
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ClusterError("the distributed runner needs Dask: pip install 'editlib[distributed]' "
                           "(the serial runner, without --scheduler, does not)") from None
    return Client, LocalCluster, as_completed


def connect(scheduler: str, workers: int | None = None, timeout: str = "10s"):
    """(client, threads per task): a ``LocalCluster`` of ``workers`` one-thread processes
    for ``"local"`` (each notebook kernel then gets cores / workers threads), else a
    client of the scheduler at ``scheduler`` (tasks use what their worker's machine has)."""
    Client, LocalCluster, _ = _dask()
    if scheduler == "local":
        n = workers or max(1, min(2, os.cpu_count() or 1))
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), max(1, (os.cpu_count() or 1) // n)
    if "://" not in scheduler:          # Dask reads host:port as tcp://host:port: probe it as such
        scheduler = f"tcp://{scheduler}"
    probe_scheduler(scheduler)
    try:
        return Client(scheduler, timeout=timeout), None
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach a Dask scheduler at {scheduler!r} ({type(e).__name__}: {e}). Start "
                           "one with `dask scheduler` and give its tcp://host:port, or use --scheduler local"
                           ) from None


def probe_scheduler(address: str, timeout: float = 5.0) -> None:
    """Check that a Dask scheduler answers at ``tcp://host:port`` before a client is made:
    Dask's client would hang on a server that never answers (an HTTP server) and read
    another protocol's bytes as a message length ("3.07 EiB"). A Dask scheduler sends its
    handshake as soon as a connection opens: an 8-byte message length, then an 8-byte
    frame count, both small. Anything else, or nothing within ``timeout`` seconds, is a
    :class:`ClusterError` naming the address. Other protocols (tls://, ...) are left to Dask."""
    import socket
    import struct
    from urllib.parse import urlsplit

    if not address.startswith("tcp://"):
        return
    where = urlsplit(address)
    if not where.hostname or not where.port:
        raise ClusterError(f"{address!r} is not a scheduler address: give tcp://host:port")
    hint = ("Start one with `dask scheduler` and give its tcp://host:port, or use --scheduler local")
    try:
        with socket.create_connection((where.hostname, where.port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            head = b""
            while len(head) < 16:
                chunk = conn.recv(16 - len(head))
                if not chunk:
                    break
                head += chunk
    except TimeoutError:
        raise ClusterError(f"the server at {address!r} sent nothing within {timeout:g} s: not a Dask scheduler. "
                           + hint) from None
    except OSError as e:
        raise ClusterError(f"cannot reach a Dask scheduler at {address!r} ({type(e).__name__}: {e}). " + hint) from None
    if len(head) < 16:
        raise ClusterError(f"the server at {address!r} closed the connection: not a Dask scheduler. " + hint)
    length, frames = struct.unpack("<QQ", head)
    if not (0 < length < 2**26 and 0 < frames < 2**10):
        raise ClusterError(f"the server at {address!r} speaks another protocol (it began {head[:8]!r}): not a "
                           "Dask scheduler. " + hint)


def _write(outcome: Outcome, out_dir: Path) -> None:
    for rel, blob in outcome.files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    outcome.files = {}


def run_on_cluster(tasks: list[Task], out_dir: Path, scheduler: str = "local", workers: int | None = None,
                   force: bool = False, ship: bool = False, timeout: str = "10s") -> list[Outcome]:
    """Run ``tasks`` on the cluster at ``scheduler``; returns one :class:`Outcome` per
    task, in the order given. ``ship``: always send the files back (as when the workers
    do not share ``out_dir``), even when they could write there."""
    out_dir = Path(out_dir).resolve()
    (out_dir / "executed").mkdir(parents=True, exist_ok=True)
    outcomes = {t: Outcome(t, "skipped") for t in tasks if not force and is_done(t, out_dir)}
    todo = [t for t in tasks if t not in outcomes]
    for t in outcomes:
        log.info("skipping %s: complete in %s (--force to run it again)", t.name, out_dir)
    if todo:
        client, threads = connect(scheduler, workers, timeout)
        _, _, as_completed = _dask()
        marker = out_dir / f".editlib-client-{uuid.uuid4().hex}"
        marker.touch()
        try:
            futures = {client.submit(run_task, t, str(out_dir), None if ship else str(marker), threads,
                                     key=f"{t.name}-{uuid.uuid4().hex[:8]}", pure=False): t for t in todo}
            bar = tqdm(total=len(futures), desc=f"notebooks on {scheduler}", unit="run")
            for fut in as_completed(futures):
                t = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as e:  # noqa: BLE001 - a lost worker: this task failed, not the run
                    outcome = Outcome(t, "failed", error=f"{type(e).__name__}: {e}")
                _write(outcome, out_dir)
                outcomes[t] = outcome
                log.info("%s %s in %.0f s on %s%s", outcome.status, t.name, outcome.seconds, outcome.where,
                         f"\n{outcome.error}" if outcome.error else "")
                bar.update()
            bar.close()
        finally:
            marker.unlink(missing_ok=True)
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None and scheduler == "local":
                cluster.close()
    return [outcomes[t] for t in tasks]


def summary(outcomes: list[Outcome]) -> str:
    """One line per task: status, seconds, where it ran, the error's last line."""
    lines = []
    for o in outcomes:
        last = o.error.strip().splitlines()[-1] if o.error.strip() else ""
        lines.append(f"{o.status:8s} {o.task.name:45s} {o.seconds:7.0f} s  {o.where}  {last}".rstrip())
    return "\n".join(lines)


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
        execute(task, Path(where), Path(notebook_dir) if notebook_dir else NOTEBOOK_DIR, progress=False)
    except BaseException as e:  # noqa: BLE001 - reported per task, the run goes on
        outcome.status = "failed"
        outcome.error = f"{type(e).__name__}: {e}"[-4000:]
    outcome.seconds = time.time() - t0
    if not shared:
        root = Path(where)
        outcome.files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        shutil.rmtree(root, ignore_errors=True)
    return outcome
