"""A stopped run carried to another machine: its finished units and the cache entries it
would otherwise compute again, in one archive.

    python -m editlib.reproduce --profile paper --models gemma3-270m --notebooks 01 --pack state.tar.gz
    python -m editlib.reproduce --profile paper --models gemma3-270m --notebooks 01 --unpack state.tar.gz
    python -m editlib.reproduce --profile paper --models gemma3-270m --notebooks 01 --resume

A paper-profile run takes hours on a CPU; a machine that is wiped between working sessions
(a lent VM, a CI runner) loses the run's partial state (:mod:`editlib.experiments.journal`)
and its cache. The archive holds, per notebook run:

- ``partial/<stem>/``: the journal folder (its manifest and finished units);
- ``cache/z/`` and ``cache/templates/``: every fact's z and the context templates, keyed by
  what they depend on (:mod:`editlib.engine.targets.z_cache`): the z of facts whose units
  are not finished yet are the slow part of a run that stops before its edits.

The covariance statistics and converted models are not carried (tens to hundreds of MB; a
run computes them again in minutes, and they are deterministic).

``carry.json`` records the code version (:func:`~editlib.experiments.journal.code_version`)
and the git commit that made the archive. Unpacking with other code is refused, naming the
commit to check out: the units would be refused by the journal anyway. Unpacking never
overwrites: a unit or cache entry already on disk is kept, and a journal folder there that
another run made is refused, naming what differs.
"""
from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path, PurePosixPath

from ..base.cache import atomic_write
from ..base.paths import cache_dir
from ..experiments.journal import PARTIAL, Journal, PartialStateError, code_version
from ..experiments.provenance import git_state

CARRIED_CACHE = ("z", "templates")          # sub-folders of the cache an archive carries
MANIFEST = "carry.json"


def _files(folder: Path):
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


def pack(archive, out_dir, stems: list[str]) -> dict:
    """Write ``archive`` (a .tar.gz): the journal folders ``<out_dir>/.partial/<stem>`` that
    exist and the carried cache folders. Returns what it holds: the stems packed, their
    unit counts, the cache entries, the code version and the git commit."""
    out_dir, cache = Path(out_dir), cache_dir()
    found = {s: Path(out_dir) / PARTIAL / s for s in stems if (Path(out_dir) / PARTIAL / s / "manifest.json").exists()}
    if not found:
        raise FileNotFoundError(f"no partial run of {', '.join(stems)} in {Path(out_dir) / PARTIAL}: nothing to pack")
    members = [(f"partial/{stem}/{p.relative_to(folder).as_posix()}", p)
               for stem, folder in found.items() for p in _files(folder)]
    members += [(f"cache/{p.relative_to(cache).as_posix()}", p)
                for sub in CARRIED_CACHE if (cache / sub).is_dir() for p in _files(cache / sub)]
    commit, dirty = git_state()
    info = {"code": code_version(), "git_commit": commit, "git_dirty": dirty, "made": time.time(),
            "runs": {s: sum(1 for p in f.glob("*.pkl")) for s, f in found.items()},
            "cache_entries": sum(1 for name, _ in members if name.startswith("cache/"))}

    def write(tmp):
        with tarfile.open(tmp, "w:gz") as tar:
            blob = json.dumps(info, indent=1).encode()
            entry = tarfile.TarInfo(MANIFEST)
            entry.size, entry.mtime = len(blob), int(info["made"])
            tar.addfile(entry, io.BytesIO(blob))
            for name, path in members:
                tar.add(path, arcname=name, recursive=False)
    atomic_write(Path(archive), write)
    return info


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or path.parts[0] not in ("partial", "cache", MANIFEST):
        raise ValueError(f"the archive holds {name!r}, outside what an editlib archive carries")
    return path


def unpack(archive, out_dir) -> dict:
    """Put ``archive``'s journal folders under ``<out_dir>/.partial/`` and its cache entries in
    the cache, keeping whatever is there already. Refused (:class:`PartialStateError`) when
    the archive was made by other code (naming its git commit) or a journal folder on disk
    belongs to another run. Returns the archive's ``carry.json`` with the counts written."""
    out_dir, cache = Path(out_dir), cache_dir()
    with tarfile.open(archive, "r:gz") as tar:
        info = json.loads(tar.extractfile(MANIFEST).read())
        if info["code"] != code_version():
            raise PartialStateError(
                f"{archive} was made by editlib code {info['code']} (git commit {info['git_commit']}); this is "
                f"{code_version()}: its units would be refused. Resume it from a checkout of that commit")
        members = [(m, _safe(m.name)) for m in tar.getmembers() if m.isfile() and m.name != MANIFEST]
        for m, path in members:                     # journal manifests first: refuse before anything is written
            if path.parts[0] == "partial" and path.name == "manifest.json":
                there = out_dir / PARTIAL / path.parts[1] / "manifest.json"
                if there.exists():
                    Journal.open(out_dir, path.parts[1], json.loads(tar.extractfile(m).read())["identity"])
        written = 0
        for m, path in members:
            target = (out_dir / PARTIAL).joinpath(*path.parts[1:]) if path.parts[0] == "partial" \
                else cache.joinpath(*path.parts[1:])
            if target.exists():
                continue
            blob = tar.extractfile(m).read()
            atomic_write(target, lambda tmp, blob=blob: Path(tmp).write_bytes(blob))
            written += 1
    return {**info, "written": written}
