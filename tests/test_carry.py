"""A stopped run carried to another machine (editlib.suite.carry): packed with its finished
units and its z, unpacked into another output folder and another cache, and resumed there,
it writes the tables an uninterrupted run writes and computes no z a second time. An archive
made by other code, a journal folder of another run on disk, and an archive member outside
what an archive carries are refused; unpacking keeps what is on disk."""
import io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_tables

import editlib.engine.targets.z_cache as z_cache
from editlib.experiments import get_experiment
from editlib.experiments.journal import PARTIAL, Journal, PartialStateError
from editlib.suite import carry
from editlib.suite.runs import plan

OVERRIDES = {"v_num_grad_steps": 3, "mom2_dataset": "model-samples", "mom2_n_tokens": 3000}
Z_GROUPS, SAVE = z_cache.z_groups, Journal.save         # as they are, before any test wraps them


class Stopped(Exception):
    """The machine went away."""


def _params(out: Path) -> tuple[str, dict]:
    (task,) = plan(["tiny-llama"], ["01"], "tiny",
                   {"n_cases": 3, "methods": ["rome", "memit"], "layers": [1], "edit_overrides": OVERRIDES})
    return task.name, {**task.parameters, "out_dir": str(out)}


def _run(params, cache: Path, monkeypatch, stop_after: int | None = None) -> int:
    """Run notebook 01's experiment with ``cache`` as the cache, stopped (an exception) once
    ``stop_after`` units are written; returns how many facts' z it computed."""
    monkeypatch.setenv("EDITLIB_CACHE", str(cache))
    computed = [0]

    def counting(model, tok, arch, requests, *a, **k):
        computed[0] += len(requests)
        return Z_GROUPS(model, tok, arch, requests, *a, **k)

    def stopping(self, unit, result, seconds):
        SAVE(self, unit, result, seconds)
        if stop_after is not None and len(list(self.folder.glob("*.pkl"))) >= stop_after:
            raise Stopped

    monkeypatch.setattr(z_cache, "z_groups", counting)
    monkeypatch.setattr(Journal, "save", stopping)
    try:
        get_experiment("01").run(**params)
    except Stopped:
        pass
    return computed[0]


def test_a_run_packed_on_one_machine_and_resumed_on_another_writes_the_uninterrupted_tables(tmp_path, monkeypatch):
    stem, here = _params(tmp_path / "here")
    first = _run(here, tmp_path / "cache-here", monkeypatch, stop_after=3)     # unedited + two ROME edits
    assert first > 0 and (tmp_path / "here" / PARTIAL / stem).is_dir()
    info = carry.pack(tmp_path / "state.tar.gz", tmp_path / "here", [stem, "02_edit_distribution_tiny-llama"])
    assert info["runs"] == {stem: 3} and info["cache_entries"] >= first      # each fact's z at least

    _, there = _params(tmp_path / "there")                                    # another machine: nothing on disk
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache-there"))
    assert carry.unpack(tmp_path / "state.tar.gz", tmp_path / "there")["written"] > info["cache_entries"]
    again = carry.unpack(tmp_path / "state.tar.gz", tmp_path / "there")      # kept as it is
    assert again["written"] == 0
    second = _run(there, tmp_path / "cache-there", monkeypatch)
    assert not (tmp_path / "there" / PARTIAL / stem).exists()

    _, reference = _params(tmp_path / "reference")
    whole = _run(reference, tmp_path / "cache-reference", monkeypatch)
    assert first + second == whole                                           # no z computed twice
    mine, theirs = run_tables(tmp_path / "there", stem), run_tables(tmp_path / "reference", stem)
    assert len(mine) >= 2 and list(mine) == list(theirs)
    for name in mine:
        pd.testing.assert_frame_equal(mine[name], theirs[name], check_exact=True, obj=name)


def _journal_archive(tmp_path, identity: dict, code: str) -> Path:
    journal = Journal.open(tmp_path / "made", "01_objectives_m", identity)
    journal.run("unedited", lambda: 1)
    path = tmp_path / "a.tar.gz"
    carry.pack(path, tmp_path / "made", ["01_objectives_m"])
    if code:                                                                  # rewrite carry.json's code version
        files = _read(path)
        files["carry.json"] = json.dumps({**json.loads(files["carry.json"]), "code": code,
                                          "git_commit": "0123abc"}).encode()
        _write(path, files)
    return path


def _read(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _write(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in files.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(blob)
            tar.addfile(entry, io.BytesIO(blob))


IDENTITY = {"experiment": "01_objectives", "parameters": {"seed": 0}, "cases": "abc", "weights": "w", "code": "c1",
            "torch": "2.13.0", "transformers": "5.0", "threads": 1}


def test_an_archive_of_other_code_is_refused_naming_its_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    path = _journal_archive(tmp_path, IDENTITY, code="ffff")
    with pytest.raises(PartialStateError, match="made by editlib code ffff .git commit 0123abc"):
        carry.unpack(path, tmp_path / "there")
    assert not (tmp_path / "there").exists()


def test_a_journal_of_another_run_on_disk_is_refused_and_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    path = _journal_archive(tmp_path, IDENTITY, code="")
    other = {**IDENTITY, "parameters": {"seed": 1}}
    Journal.open(tmp_path / "there", "01_objectives_m", other).run("unedited", lambda: 2)
    with pytest.raises(PartialStateError, match=r"parameters\.seed: 1 there, 0 now"):
        carry.unpack(path, tmp_path / "there")
    assert Journal.open(tmp_path / "there", "01_objectives_m", other).run("unedited", lambda: 3) == 2


def test_a_member_outside_the_archives_layout_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    path = _journal_archive(tmp_path, IDENTITY, code="")
    _write(path, {**_read(path), "partial/../../escaped.txt": b"x"})
    with pytest.raises(ValueError, match="outside what an editlib archive carries"):
        carry.unpack(path, tmp_path / "there")
    assert not (tmp_path / "escaped.txt").exists()


def test_nothing_to_pack_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="no partial run of 01_objectives_m"):
        carry.pack(tmp_path / "a.tar.gz", tmp_path, ["01_objectives_m"])
