"""The public data files editlib knows by name: where each one is published, its SHA-256,
its licence, and how it is found or fetched.

A file is looked for, in order:

1. in ``$EDITLIB_DATA`` (a folder of your own copies; works offline);
2. in ``<cache>/data`` (where earlier downloads went);
3. at its pinned public location (a URL at a fixed commit), downloaded on first use into
   ``<cache>/data`` unless ``EDITLIB_OFFLINE=1``.

A pinned file is checked against its SHA-256 wherever it is found: a download that does
not match is deleted and refused; a copy in ``$EDITLIB_DATA`` that does not match is used
with a warning, since the numbers it gives will not be those of ``figures/``. A file with
no published checksum (the ROME authors' own site) is trusted on first download and its
digest kept beside it, so later changes on disk are caught.

Every lookup says where the file came from (:class:`Found.origin`), which runs print and
record. The data sources and their licences are listed in ``docs/data.md``.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError
from .paths import cache_dir, data_dirs

_KS = "https://raw.githubusercontent.com/Jometeorie/KnowledgeSpread/51d7402617c2e52bde0dc11b76e400c3725a181a/data"
_WT = ("https://raw.githubusercontent.com/reichenbch/Word-Level-Language-Model/"
       "95f4549b9e94447e21da9d1de23c222614030964/data/wikitext-2")
_ROME = "https://rome.baulab.info/data/dsets"


@dataclass(frozen=True)
class DataFile:
    """One public data file: its name on disk, where it is published and its SHA-256
    (``None``: the publisher gives none, the first download is trusted)."""

    name: str
    filename: str
    url: str
    sha256: str | None
    what: str


FILES = {f.name: f for f in [
    DataFile("counterfact_simple", "counterfact_simple_edit10k.json", f"{_KS}/counterfact/counterfact-edit.json",
             "bfe31a7081932739406e282bb625d74222549c3386c15b1df3dfbc3978c69eec",
             "CounterFact, 10,000 cases in the one-paraphrase MEND/EasyEdit form"),
    DataFile("zsre_train1k", "zsre_mend_train1k.json", f"{_KS}/zsre/zsre_mend_train-1k.json",
             "e62596101d8ed551889c26c0d2a5277f92eaef3b14416d8eaee39b04a244ab60",
             "zsRE question-answer edits in MEND's format, 1,000 records"),
    DataFile("wikitext2_valid", "wikitext2_valid.txt", f"{_WT}/valid.txt",
             "e24057b96f875e4ac4a5f347fa6c64438ef8322b6e41abb4d187ef0d4e150505",
             "WikiText-2 validation split (word-tokenized release): text for C0"),
    DataFile("wikitext2_test", "wikitext2_test.txt", f"{_WT}/test.txt",
             "dd265c9ce12629a1eddcfd8946e087b62bb59eed07da62e775a7f6549c24cddb",
             "WikiText-2 test split (word-tokenized release): held-out perplexity"),
    DataFile("counterfact", "counterfact.json", f"{_ROME}/counterfact.json", None,
             "CounterFact, 21,919 cases in the original format (ROME's site)"),
    DataFile("multi_counterfact", "multi_counterfact.json", f"{_ROME}/multi_counterfact.json", None,
             "MEMIT's multi-CounterFact (ROME's site)"),
    DataFile("zsre", "zsre_mend_eval.json", f"{_ROME}/zsre_mend_eval.json", None,
             "zsRE evaluation split in MEND's format (ROME's site)"),
]}
BY_FILENAME = {f.filename: f for f in FILES.values()}


@dataclass(frozen=True)
class Found:
    """A data file on disk and where it came from: ``"EDITLIB_DATA"``, ``"cache"`` or
    ``"downloaded from <url>"``."""

    path: Path
    origin: str

    def __str__(self) -> str:
        return f"{self.path.name} ({self.origin})"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def offline() -> bool:
    """``EDITLIB_OFFLINE`` set to 1/true/yes: never download."""
    return os.environ.get("EDITLIB_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def _transfer(url: str, part: Path, timeout: float) -> tuple[int, int | None]:
    """Stream ``url`` into ``part``: (bytes received, bytes announced or None)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            announced = response.headers.get("Content-Length")
            got = 0
            while block := response.read(1 << 20):
                out.write(block)
                got += len(block)
    except http.client.HTTPException as e:            # a broken transfer (IncompleteRead, ...) as an OSError
        raise OSError(f"download of {url} failed: {e!r}") from None
    return got, None if announced is None else int(announced)


def download(url: str, target: Path, sha256: str | None, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``target`` through ``<target>.part``: the file appears only when it
    is complete (as many bytes as the server announced) and matches ``sha256``; otherwise
    nothing is left behind and :class:`DatasetError` (a mismatch) or ``OSError`` (the
    transfer) says what went wrong."""
    part = target.with_name(target.name + ".part")
    try:
        got, announced = _transfer(url, part, timeout)
        if announced is not None and got != announced:
            raise OSError(f"download of {url} was interrupted: {got:,} of {announced:,} bytes")
        digest = file_sha256(part)
        if sha256 is not None and digest != sha256:
            raise DatasetError(f"{url} does not match its pinned SHA-256: expected {sha256}, got {digest}; "
                               "the file was not kept (the source changed or the transfer was corrupted)")
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    if sha256 is None:                       # trust on first use: later loads are checked against it
        target.with_name(target.name + ".sha256").write_text(digest)
    return target


def _checked(path: Path, spec: DataFile | None, origin: str) -> Found:
    if spec is not None and spec.sha256 is not None:
        digest = file_sha256(path)
        if digest != spec.sha256 and origin == "cache":
            raise DatasetError(f"{path} does not match the pinned SHA-256 of {spec.name} ({spec.sha256}, got "
                               f"{digest}); delete it to download it again")
        if digest != spec.sha256:
            warnings.warn(f"{path} is not the published {spec.name} (SHA-256 {digest}, published {spec.sha256}): "
                          "it is used, but its numbers will not match the committed figures", stacklevel=3)
    sidecar = path.with_name(path.name + ".sha256")
    if (spec is None or spec.sha256 is None) and sidecar.exists() and sidecar.read_text().strip() != file_sha256(path):
        raise DatasetError(f"{path} does not match its checksum {sidecar}; delete both to download again")
    return Found(path, origin)


def locate(filename: str, download_missing: bool = True) -> Found | None:
    """The data file ``filename``: from ``$EDITLIB_DATA``, the cache, or (a known file,
    online) its pinned download; ``None`` when none of them has it."""
    spec = BY_FILENAME.get(filename)
    for folder in data_dirs():
        if (folder / filename).is_file():
            origin = "cache" if folder == cache_dir("data") else "EDITLIB_DATA"
            return _checked(folder / filename, spec, origin)
    if spec is None or not download_missing or offline():
        return None
    target = cache_dir("data") / filename
    try:
        download(spec.url, target, spec.sha256)
    except OSError as e:
        warnings.warn(f"{filename} is not on disk and its download from {spec.url} failed ({e})", stacklevel=2)
        return None
    return Found(target, f"downloaded from {spec.url}")


def where_looked() -> str:
    """The places :func:`locate` searches, for error messages."""
    places = [str(d) for d in data_dirs()]
    return f"{places} and, online, each file's pinned download" + (" (off: EDITLIB_OFFLINE)" if offline() else "")
