"""Data files fetched on first use from a pinned location (editlib.base.datafiles), tested
against an HTTP server on loopback: a good download, a checksum mismatch, an interrupted
transfer, offline mode, and copies on disk that differ from the published file."""
import hashlib
import http.server
import json
import threading
import warnings
from pathlib import Path

import pytest

from editlib.base import datafiles
from editlib.base.datafiles import DataFile, locate
from editlib.base.errors import DatasetError

BODY = json.dumps([{"case_id": i, "prompt": f"The capital of Country{i} is", "subject": f"Country{i}",
                    "target_new": "Rome", "ground_truth": "Paris"} for i in range(50)]).encode()
SHA = hashlib.sha256(BODY).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):                       # noqa: N802 (the http.server name)
        _Handler.requests.append(self.path)
        if self.path == "/cut.json":        # announces the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[: len(BODY) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path not in ("/good.json", "/other.json"):
            self.send_error(404)
            return
        body = BODY if self.path == "/good.json" else BODY.replace(b"Rome", b"Oslo")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def online(tmp_path, monkeypatch):
    """An empty cache, no EDITLIB_DATA, downloads allowed."""
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDITLIB_DATA", raising=False)
    monkeypatch.delenv("EDITLIB_OFFLINE", raising=False)
    _Handler.requests.clear()
    return tmp_path


def _publish(monkeypatch, url: str, sha256: str | None = SHA, filename: str = "facts.json") -> DataFile:
    spec = DataFile("facts", filename, url, sha256, "a test file")
    monkeypatch.setitem(datafiles.BY_FILENAME, filename, spec)
    return spec


def _leftovers(online) -> list[str]:
    folder = Path(online) / "cache" / "data"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_first_use_downloads_checks_and_then_reads_the_cache(server, online, monkeypatch):
    _publish(monkeypatch, f"{server}/good.json")
    found = locate("facts.json")
    assert found.origin == f"downloaded from {server}/good.json"
    assert found.path.read_bytes() == BODY
    again = locate("facts.json")
    assert (again.path, again.origin) == (found.path, "cache")
    assert _Handler.requests == ["/good.json"]                   # fetched once
    assert _leftovers(online) == ["facts.json"]                  # no .part, no sidecar for a pinned file


def test_a_download_that_does_not_match_its_pin_is_refused_and_not_kept(server, online, monkeypatch):
    _publish(monkeypatch, f"{server}/other.json")
    with pytest.raises(DatasetError, match="does not match its pinned SHA-256: expected " + SHA):
        locate("facts.json")
    assert _leftovers(online) == []


def test_an_interrupted_download_leaves_nothing_and_is_reported(server, online, monkeypatch):
    _publish(monkeypatch, f"{server}/cut.json")
    with pytest.warns(UserWarning, match="download from .*/cut.json failed"):
        assert locate("facts.json") is None
    assert _leftovers(online) == []
    _publish(monkeypatch, f"{server}/good.json")                  # a later try starts afresh
    assert locate("facts.json").path.read_bytes() == BODY


def test_offline_never_asks_the_network(server, online, monkeypatch):
    _publish(monkeypatch, f"{server}/good.json")
    monkeypatch.setenv("EDITLIB_OFFLINE", "1")
    assert locate("facts.json") is None
    assert _Handler.requests == []


def test_a_cached_copy_that_changed_is_refused(server, online, monkeypatch):
    _publish(monkeypatch, f"{server}/good.json")
    path = locate("facts.json").path
    path.write_bytes(BODY.replace(b"Rome", b"Oslo"))
    with pytest.raises(DatasetError, match=r"does not match the pinned SHA-256 of facts \(.*\); delete it"):
        locate("facts.json")


def test_a_copy_in_editlib_data_that_differs_is_used_with_a_warning(online, monkeypatch, tmp_path):
    _publish(monkeypatch, "http://127.0.0.1:9/never")
    own = tmp_path / "mine"
    own.mkdir()
    (own / "facts.json").write_bytes(BODY.replace(b"Rome", b"Oslo"))
    monkeypatch.setenv("EDITLIB_DATA", str(own))
    with pytest.warns(UserWarning, match="is not the published facts .*will not match the committed figures"):
        found = locate("facts.json")
    assert found.origin == "EDITLIB_DATA" and found.path == own / "facts.json"
    (own / "facts.json").write_bytes(BODY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert locate("facts.json").origin == "EDITLIB_DATA"


def test_an_unpinned_file_is_trusted_on_first_use_then_checked(server, online, monkeypatch):
    _publish(monkeypatch, f"{server}/good.json", sha256=None)
    path = locate("facts.json").path
    assert (path.parent / "facts.json.sha256").read_text() == SHA
    path.write_bytes(b"[]")
    with pytest.raises(DatasetError, match="does not match its checksum"):
        locate("facts.json")


def test_a_dataset_name_loads_through_the_download(server, online, monkeypatch):
    from editlib.evaluation.data import dataset_origin, load_counterfact

    monkeypatch.setitem(datafiles.FILES, "counterfact_simple",
                        _publish(monkeypatch, f"{server}/good.json", filename="counterfact_simple_edit10k.json"))
    cases = load_counterfact("counterfact_simple")
    assert len(cases) == 50 and cases[0]["requested_rewrite"]["target_new"]["str"] == "Rome"
    assert dataset_origin("counterfact_simple") == "counterfact_simple_edit10k.json (cache)"


def test_without_data_or_network_a_named_dataset_says_where_it_looked(online, monkeypatch):
    from editlib.evaluation.data import load_counterfact

    monkeypatch.setenv("EDITLIB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="counterfact_simple_edit10k.json .*EDITLIB_OFFLINE.*download it from "
                                                "https://raw.githubusercontent.com/Jometeorie/KnowledgeSpread/51d74"):
        load_counterfact("counterfact_simple")


def test_the_auto_corpus_without_wikitext_warns_that_numbers_differ(online, monkeypatch, tiny_llama):
    from editlib.engine.statistics.corpus import resolve_corpus

    monkeypatch.setenv("EDITLIB_OFFLINE", "1")
    model, tok = tiny_llama
    with pytest.warns(UserWarning, match="will not match the committed figures"):
        assert resolve_corpus("auto", model, tok).source == "model-samples"


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data")
def test_the_pins_are_the_published_files():
    """../shared/data holds unchanged copies of the published files: each pinned digest must
    be theirs, or a fresh machine would refuse the real download."""
    for spec in datafiles.FILES.values():
        if spec.sha256 is not None:
            assert datafiles.file_sha256(SHARED / spec.filename) == spec.sha256, spec.name
