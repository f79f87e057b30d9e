"""Every bad input is refused at the door with editlib's own error naming the problem,
before templates, C0 or z are computed: the weights and the cache directory are left
exactly as they were. One row per kind of bad input."""
import re

import pytest
import torch
from conftest import FRANCE

import editlib
from editlib import DatasetError, Editor, EditRequestError, HyperparameterError, ModelLoadError, load_model
from editlib.evaluation.data import load_counterfact
from editlib.evaluation.evaluate import evaluate

CASE = {"case_id": 1, "requested_rewrite": {"prompt": "The capital of {} is", "subject": "France",
                                            "target_new": {"str": "Rome"}, "target_true": {"str": "Paris"}},
        "paraphrase_prompts": ["France's capital is"], "neighborhood_prompts": ["The capital of Spain is"]}
OK = dict(layers=[1], mom2_dataset="model-samples", mom2_n_tokens=2000, v_num_grad_steps=2, progress=False)


def edit(requests, method="emmet", **kw):
    def run(model, tok, tmp):
        Editor(model, tok, method=method, **{**OK, **kw}).apply(requests)
    return run


def build(**kw):
    def run(model, tok, tmp):
        Editor(model, tok, **{**OK, **kw})
    return run


def with_case(**changes):
    rr = {**CASE["requested_rewrite"], **changes.pop("rr", {})}
    return {**CASE, "requested_rewrite": {k: v for k, v in rr.items() if v is not None}, **changes}


def score(cases):
    def run(model, tok, tmp):
        evaluate(model, tok, cases)
    return run


def load(name):
    def run(model, tok, tmp):
        load_model(name.format(tmp=tmp), device="cpu")
    return run


def bad_gguf(model, tok, tmp):
    path = tmp / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 60)
    load_model(str(path), device="cpu")


def dataset(name, content=None):
    def run(model, tok, tmp):
        path = tmp / name
        if content is not None:
            path.write_text(content)
        load_counterfact(str(path) if "." in name else name)
    return run


def foreign_tokenizer(model, tok, tmp):
    import copy

    other = copy.deepcopy(tok)                    # a tokenizer with more tokens than the model has rows
    other.add_tokens(["<added-1>", "<added-2>"])
    Editor(model, other, **OK)


def small_foreign_tokenizer(model, tok, tmp):
    import copy

    other = copy.deepcopy(tok)                    # no more tokens than the model has rows, but another eos
    other.eos_token = tok.convert_ids_to_tokens(5)
    Editor(model, other, **OK)


def committed_table(notebook="01_objectives_smollm2-135m"):
    import pandas as pd

    from editlib.suite.report import ROOT

    return pd.read_csv(ROOT / "figures" / f"{notebook}.csv")


def regenerate_with(change):
    """``report regenerate`` on a folder holding a committed per-case table, changed."""
    def run(model, tok, tmp):
        from editlib.suite.report import regenerate

        folder = tmp / "figures"
        folder.mkdir()
        change(committed_table()).to_csv(folder / "01_objectives_smollm2-135m.csv", index=False)
        regenerate(folder, progress=lambda s: None)
    return run


def pair(metric, a_values, b_values):
    def run(model, tok, tmp):
        import pandas as pd

        from editlib.evaluation.statistics import paired_difference

        def long(values):
            return pd.DataFrame([{"case_id": i, "metric": m, "value": v} for m, vs in values.items()
                                 for i, v in enumerate(vs)])
        paired_difference(long(a_values), long(b_values), metric)
    return run


def report_cli(*args):
    def run(model, tok, tmp):
        from editlib.suite.report import main

        main(["regenerate", *[a.format(tmp=tmp) for a in args]])
    return run


def place(**kw):
    def run(model, tok, tmp):
        load_model("tiny-llama", **kw)
    return run


LONG = "The capital of {} is " + "very " * 2700 + "much"
ROWS = [
    # ---- requests
    ("subject not in prompt", edit([{**FRANCE, "prompt": "The capital of Spain is"}]), EditRequestError,
     "not in the prompt"),
    ("subject written out", edit([{**FRANCE, "prompt": "The capital of France is"}]), EditRequestError, "as '{}'"),
    ("empty target", edit([{**FRANCE, "target_new": ""}]), EditRequestError, "empty"),
    ("blank target", edit([{**FRANCE, "target_new": "   "}]), EditRequestError, "empty"),
    ("target ends in space", edit([{**FRANCE, "target_new": "Rome "}]), EditRequestError, "ends with whitespace"),
    ("target_new == target_true", edit([{**FRANCE, "target_new": "Paris"}]), EditRequestError, "equals target_true"),
    ("equal up to a space", edit([{**FRANCE, "target_new": " Paris"}]), EditRequestError, "equals target_true"),
    ("named field {x}", edit([{**FRANCE, "prompt": "The {x} of {} is"}]), EditRequestError, "exactly one"),
    ("lone brace", edit([{**FRANCE, "prompt": "The { capital of {} is"}]), EditRequestError, "not a valid template"),
    ("two placeholders", edit([{**FRANCE, "prompt": "{} is the capital of {}"}]), EditRequestError, "exactly one"),
    ("format spec", edit([{**FRANCE, "prompt": "The capital of {:>9} is"}]), EditRequestError, "exactly one"),
    ("escaped braces", edit([{**FRANCE, "prompt": "The {{capital}} of {} is"}]), EditRequestError, "no other braces"),
    ("prompt ends in space", edit([{**FRANCE, "prompt": "The capital of {} is "}]), EditRequestError,
     "ends with whitespace"),
    ("subject padded", edit([{**FRANCE, "subject": " France"}]), EditRequestError, "whitespace"),
    ("empty subject", edit([{**FRANCE, "subject": ""}]), EditRequestError, "subject is empty"),
    ("conflict", edit([FRANCE, {**FRANCE, "target_new": "Madrid"}]), EditRequestError, "different targets"),
    ("conflict hidden by spacing", edit([FRANCE, {**FRANCE, "prompt": "The capital of  {}  is",
                                                  "target_new": " Madrid"}]), EditRequestError, "different targets"),
    ("non-string subject", edit([{**FRANCE, "subject": 123}]), EditRequestError, "subject must be a string"),
    ("non-string target", edit([{**FRANCE, "target_new": 5}]), EditRequestError, "target_new must be a string"),
    ("non-string target_true", edit([{**FRANCE, "target_true": ["Paris"]}]), EditRequestError, "target_true must be"),
    ("missing target_new", edit([{"prompt": "The capital of {} is", "subject": "France"}]), EditRequestError,
     "missing field"),
    ("one dict, not a list", edit(FRANCE), EditRequestError, "must be a list"),
    ("a string, not a list", edit("The capital of France is Rome"), EditRequestError, "must be a list"),
    ("a number in the list", edit([FRANCE, 7]), EditRequestError, "request 1 is a int"),
    ("no requests", edit([]), EditRequestError, "no edit requests"),
    ("prompt beyond the context", edit([{**FRANCE, "prompt": LONG}]), EditRequestError, "context is 256 tokens"),
    ("ROME with a batch", edit([FRANCE, {**FRANCE, "subject": "Spain"}], method="rome"), ValueError,
     "one fact at a time"),
    # ---- settings
    ("zero z steps", build(v_num_grad_steps=0), HyperparameterError, "v_num_grad_steps must be ≥ 1"),
    ("fractional z steps", build(v_num_grad_steps=2.5), HyperparameterError, "v_num_grad_steps must be an integer"),
    ("negative lr", build(v_lr=-0.1), HyperparameterError, "v_lr must be > 0"),
    ("lr as text", build(v_lr="0.5"), HyperparameterError, "v_lr must be a number"),
    ("zero clamp", build(clamp_norm_factor=0), HyperparameterError, "clamp_norm_factor must be > 0"),
    ("negative KL", build(kl_factor=-1), HyperparameterError, "kl_factor"),
    ("NaN weight decay", build(v_weight_decay=float("nan")), HyperparameterError, "must be finite"),
    ("unknown fact token", build(fact_token="first"), HyperparameterError, "fact_token must be one of"),
    ("zero token budget", build(max_tokens=0), HyperparameterError, "max_tokens"),
    ("unknown z dtype", build(compute_dtype="int8"), HyperparameterError, "compute_dtype must be one of"),
    ("fractional layer", build(layers=[1.7]), HyperparameterError, "not an integer layer index"),
    ("layer out of range", build(layers=[9]), HyperparameterError, "out of range"),
    ("repeated layer", build(layers=[1, 1]), HyperparameterError, "repeated layer"),
    ("no layers", build(layers=[]), HyperparameterError, "no edit layers"),
    ("layers as a string, no preset", build(layers="spread"), ValueError, "no preset"),
    ("zero C0 tokens", build(mom2_n_tokens=0), HyperparameterError, "mom2_n_tokens must be ≥ 1"),
    ("C0 window too short", build(mom2_seq_len=4), HyperparameterError, "mom2_seq_len must be ≥ 8"),
    ("missing corpus file", build(mom2_dataset="no/such/corpus.txt"), HyperparameterError, "unknown corpus"),
    ("wikitext without data dir", build(mom2_dataset="wikitext2"), HyperparameterError, "not found"),
    ("unknown C0 dtype", build(mom2_dtype="float8"), HyperparameterError, "mom2_dtype"),
    ("bad template lengths", build(context_template_lengths=((10,),)), HyperparameterError, "pairs"),
    ("EMMET λ = 0", build(method="emmet", mom2_update_weight=0), HyperparameterError, "must be > 0"),
    ("EMMET λ < 0", build(method="emmet", mom2_update_weight=-5), HyperparameterError, "must be > 0"),
    ("EMMET μ < 0", build(method="emmet", mu=-0.1), HyperparameterError, "mu"),
    ("EMMET ridge flag", build(method="emmet", ridge_single_edits="yes"), HyperparameterError, "True or False"),
    ("MEMIT λ < 0", build(method="memit", mom2_update_weight=-1), HyperparameterError, "MEMIT's λ"),
    ("unknown setting", build(method="memit", lam=3), TypeError, "unknown hyperparameter"),
    ("unknown method", build(method="ft"), KeyError, "unknown method"),
    ("unknown preset", build(preset="gpt-5"), KeyError, "no preset"),
    # ---- evaluation cases
    ("evaluate no cases", score([]), DatasetError, "no cases"),
    ("evaluate one dict", score(CASE), DatasetError, "must be a list"),
    ("evaluate empty target_true", score([with_case(rr={"target_true": {"str": ""}})]), DatasetError,
     "target_true.str' is missing or empty"),
    ("evaluate missing target_true", score([with_case(rr={"target_true": None})]), DatasetError,
     "target_true' is missing"),
    ("evaluate equal targets", score([with_case(rr={"target_new": {"str": "Paris"}})]), DatasetError,
     "nothing to score"),
    ("evaluate prompts not a list", score([with_case(paraphrase_prompts="France's capital is")]), DatasetError,
     "list of non-empty prompts"),
    # ---- models and datasets
    ("alias typo", load("smollm2"), ModelLoadError, "did you mean 'smollm2-135m'"),
    ("missing path", load("./no/such/model"), ModelLoadError, "no such file or directory"),
    ("missing gguf", load("{tmp}/absent.gguf"), ModelLoadError, "does not exist"),
    ("truncated gguf", bad_gguf, ModelLoadError, "broken.gguf"),
    ("unknown tiny model", load("tiny-bert"), ModelLoadError, "among the registered"),
    ("tokenizer of another model", foreign_tokenizer, ModelLoadError, "402 tokens but the model's embedding has 400"),
    ("a device that is not one", place(device="gpu0"), ModelLoadError, "is not a device"),
    ("missing .jsonl", dataset("cases.jsonl"), FileNotFoundError, "does not exist"),
    ("dataset of the wrong kind", dataset("cases.txt", "hello"), DatasetError, "expected a .json"),
    ("broken .jsonl", dataset("cases.jsonl", "{not json"), DatasetError, "not valid JSON Lines"),
    ("unknown dataset name", dataset("counterfactual"), DatasetError, "unknown dataset"),
    ("a file with no cases", dataset("empty.json", "[]"), DatasetError, "holds no cases"),
    ("malformed JSON Lines line", dataset("cases.jsonl", "\n".join(['{"case_id": 1}'] * 3 + ["{not json"])),
     DatasetError, "not valid JSON Lines: line 4"),
    ("a smaller tokenizer of another model", small_foreign_tokenizer, ModelLoadError, "eos token is id 5"),
    # ---- results tables and their statistics
    ("per-case table cut at a row boundary", regenerate_with(lambda t: t.iloc[:-7]), DatasetError,
     "not scored on the same (case, metric) pairs"),
    ("per-case table missing a setting", regenerate_with(lambda t: t[t.setting != "memit"]), DatasetError,
     "missing ['memit']"),
    ("per-case table without 'setting'", regenerate_with(lambda t: t.drop(columns="setting")), DatasetError,
     "01_objectives_smollm2-135m.csv: no column 'setting'"),
    ("per-case table without 'dataset'", regenerate_with(lambda t: t.drop(columns="dataset")), DatasetError,
     "no column 'dataset'"),
    ("misspelt metric", pair("SS", {"ES": [1, 0]}, {"ES": [0, 0]}), DatasetError, "setting A has no SS values"),
    ("docs rendered from one folder", report_cli("{tmp}", "--render"), HyperparameterError,
     "--render draws the docs from figures and figures/paper together"),
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    (tmp_path / "no-data").mkdir()            # a data folder that holds nothing
    monkeypatch.setenv("EDITLIB_DATA", str(tmp_path / "no-data"))
    return tmp_path


def files(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


NO_CUDA = [
    ("CUDA on a machine without it", place(device="cuda"), ModelLoadError, "devices here: ['cpu'"),
    ("a second GPU that is not there", place(device="cuda:1"), ModelLoadError,
     "CUDA device this machine does not have"),
    ("device_map onto a missing GPU", place(device_map={"": "cuda:0"}), ModelLoadError, "device_map['']='cuda:0'"),
]
if not torch.cuda.is_available():
    ROWS += NO_CUDA


def test_the_table_covers_enough_kinds_of_bad_input():
    assert len(ROWS) >= 40 and len({r[0] for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("name, run, error, fragment", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_refused_before_any_work(tiny_llama, env, name, run, error, fragment):
    m, tok = tiny_llama
    before = {k: v.clone() for k, v in m.state_dict().items()}
    cache = env / "cache"
    cache.mkdir(exist_ok=True)
    cached = files(cache)
    with pytest.raises(error, match=re.escape(fragment)):
        run(m, tok, env)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert files(cache) == cached
    assert not editlib.engine.edit.ledger.ledger(m).is_edited()


def test_the_same_harness_sees_a_valid_edit(tiny_llama, env):
    """The checks above can fail: a valid request does write weights and cache entries."""
    m, tok = tiny_llama
    cache = env / "cache"
    cache.mkdir(exist_ok=True)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    editor = Editor(m, tok, **OK)
    editor.apply([FRANCE])
    assert files(cache) != [] and not all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    editor.restore()


def test_exact_duplicates_are_written_once(tiny_llama, env):
    m, tok = tiny_llama
    with pytest.warns(UserWarning, match="written once"):
        with Editor(m, tok, **OK).edited([FRANCE, {**FRANCE, "target_new": " Rome"}]) as result:
            assert len(result.requests) == 1 and result.z.shape[0] == 1


def test_jsonl_datasets_load(tmp_path):
    import json

    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps({**CASE, "case_id": i}) for i in range(3)))
    assert [c["case_id"] for c in load_counterfact(str(path))] == [0, 1, 2]


def test_a_data_directory_that_does_not_exist_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    from editlib.engine.statistics.corpus import resolve_corpus

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDITLIB_DATA", "../shared/data")            # relative, and not there from here
    with pytest.raises(DatasetError, match=r"EDITLIB_DATA='../shared/data' is not a directory"):
        resolve_corpus("auto")                                       # was: C0 silently from model samples
    with pytest.raises(DatasetError, match="is not a directory"):
        load_counterfact("counterfact_simple")
    monkeypatch.setenv("EDITLIB_DATA", str(tmp_path))                # an existing folder is searched first
    from editlib.base.paths import data_dirs

    assert data_dirs()[0] == tmp_path


# --------------------------------------------------------------------------- the runner's command line
def _server(reply: bytes | None):
    """A TCP server on localhost that is not a Dask scheduler: silent until spoken to (an
    HTTP server), or sending another protocol's greeting. Returns (address, stop)."""
    import socket
    import threading

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.settimeout(0.2)
    done = threading.Event()

    def serve():
        conns = []
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conns.append(conn)
            if reply:
                conn.sendall(reply)
        for c in conns:
            c.close()
        sock.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{sock.getsockname()[1]}", done.set


RUNNER = [
    ("misspelt parameter", ["--notebooks", "02", "-p", "n_casez", "10"], "did you mean 'n_cases'"),
    ("negative count", ["--notebooks", "02", "-p", "n_cases", "-3"], "n_cases=-3 is below 1"),
    ("count as text", ["--notebooks", "02", "-p", "n_cases", "abc"], "n_cases='abc' should be int"),
    ("zero batch size", ["--notebooks", "03", "-p", "batch_sizes", "[1, 0]"], "batch_sizes=[1, 0] is below 1"),
    ("unknown notebook", ["--notebooks", "07"], "no notebook '07'; choose from 00, 01"),
    ("misspelt model", ["--notebooks", "02", "--models", "smollm2"], "did you mean 'smollm2-135m'"),
    ("silent server as scheduler", ["--notebooks", "02", "--scheduler", "{silent}"], "sent nothing within"),
    ("another protocol as scheduler", ["--notebooks", "02", "--scheduler", "{ssh}"], "speaks another protocol"),
    ("host:port without tcp://", ["--notebooks", "02", "--scheduler", "{bare}"], "sent nothing within"),
]


@pytest.mark.parametrize("name, args, fragment", RUNNER, ids=[r[0] for r in RUNNER])
def test_the_runner_refuses_bad_input_before_any_kernel_starts(tmp_path, name, args, fragment):
    """`python -m editlib.reproduce` as a user types it: a clear error and a non-zero exit
    within seconds, no executed notebook written."""
    import subprocess
    import sys
    import time

    silent, stop_silent = _server(None)
    ssh, stop_ssh = _server(b"SSH-2.0-OpenSSH_9.6\r\n")
    args = [a.format(silent=silent, ssh=ssh, bare=silent.removeprefix("tcp://")) for a in args]
    t0 = time.time()
    try:
        out = subprocess.run([sys.executable, "-m", "editlib.reproduce", "--profile", "tiny", "--out", str(tmp_path),
                              *args], capture_output=True, text=True, timeout=60)
    finally:
        stop_silent(), stop_ssh()
    assert out.returncode != 0 and fragment in out.stderr, out.stderr[-2000:]
    assert time.time() - t0 < 40                               # a clear error within seconds, never a hang
    assert not list(tmp_path.rglob("*.ipynb"))


# --------------------------------------------------------------------------- a user's own data
def test_a_users_file_is_not_thinned_silently(tmp_path):
    """The tuning split protects the bundled data; on a file of your own it applies only when
    asked for, and then says what it leaves out."""
    import json
    import warnings

    from editlib.evaluation.data import load_cases

    records = [{"prompt": f"The capital of Land{i} is", "subject": f"Land{i}", "target_new": "Rome",
                "ground_truth": "Paris"} for i in range(12)]
    path = tmp_path / "my_facts.json"
    path.write_text(json.dumps(records))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_cases(str(path))) == 12                       # split=None: every case of your own file
    with pytest.warns(UserWarning, match="split='eval' leaves out 12 of the 12 cases"):
        assert load_cases(str(path), split="eval") == []
    with pytest.raises(DatasetError, match=r"only 0 match .*in split 'eval'.*split='all' draws from every case"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_cases(str(path), n=5, split="eval")
    assert len(load_cases(str(path), n=5, split="all")) == 5
    assert len(load_cases("embedded")) == len(load_cases("embedded", split="eval"))     # bundled: "eval"
    with pytest.raises(DatasetError, match="must be a positive integer"):
        load_cases("embedded", n=-3)


def test_a_nan_part_on_one_side_is_left_out_on_both():
    """S from ES/PS/NS where A lacks one part of a case: that part is left out of B's means
    too, so A's and B's part means come from the same cases."""
    import pandas as pd

    from editlib.evaluation.metrics.counterfact import harmonic_mean
    from editlib.evaluation.statistics import paired_difference

    def long(values):
        return pd.DataFrame([{"case_id": i, "metric": m, "value": v} for m, vs in values.items()
                             for i, v in enumerate(vs)])
    a = {"ES": [1.0, 1.0, 0.0], "PS": [1.0, float("nan"), 0.0], "NS": [1.0, 1.0, 1.0]}
    b = {"ES": [0.0, 1.0, 0.0], "PS": [0.0, 1.0, 1.0], "NS": [1.0, 0.0, 1.0]}
    res = paired_difference(long(a), long(b), "S")
    assert res["n"] == 3
    assert res["a_mean"] == pytest.approx(harmonic_mean(2 / 3, 1 / 2, 1.0))
    assert res["b_mean"] == pytest.approx(harmonic_mean(1 / 3, 1 / 2, 2 / 3))     # B's PS without case 1


def test_rendering_the_docs_is_all_or_nothing(tmp_path, monkeypatch):
    import pandas as pd

    from editlib.suite import report

    (tmp_path / "docs").mkdir()
    for name in report.RENDERED:
        (tmp_path / name).write_text("<!-- claims -->\nold\n<!-- /claims -->\n")
    (tmp_path / report.TABLES_PAGE).write_text("no tables block here\n")
    claims = pd.read_csv(report.ROOT / "figures" / "claims.csv")
    monkeypatch.setattr(report, "ROOT", tmp_path)
    before = {p: p.read_text() for p in tmp_path.rglob("*.md")}
    with pytest.raises(ValueError, match="has no <!-- tables figures --> "):
        report.render_docs(claims)
    assert {p: p.read_text() for p in tmp_path.rglob("*.md")} == before


def test_a_subject_that_occurs_twice_is_a_warning(tmp_path):
    import json

    path = tmp_path / "facts.json"
    path.write_text(json.dumps([{"prompt": "Paris Hilton was born in Paris", "subject": "Paris",
                                 "target_new": "Rome", "ground_truth": "New York"}]))
    with pytest.warns(UserWarning, match="the subject 'Paris' occurs 2 times"):
        (case,) = load_counterfact(str(path))
    assert case["requested_rewrite"]["prompt"] == "{} Hilton was born in Paris"


# --------------------------------------------------------------------------- accepted, but never silently
def users_file(model, tok, tmp):
    import json

    from editlib.evaluation.data import load_cases

    path = tmp / "my_facts.json"
    path.write_text(json.dumps([{"prompt": f"The capital of Land{i} is", "subject": f"Land{i}",
                                 "target_new": "Rome", "ground_truth": "Paris"} for i in range(12)]))
    load_cases(str(path), split="eval")


def subject_twice(model, tok, tmp):
    import json

    path = tmp / "facts.json"
    path.write_text(json.dumps([{"prompt": "Paris Hilton was born in Paris", "subject": "Paris",
                                 "target_new": "Rome", "ground_truth": "New York"}]))
    load_counterfact(str(path))


def nan_in_cached_z(model, tok, tmp):
    editor = Editor(model, tok, **OK)
    editor.targets([FRANCE])
    (path,) = (tmp / "cache" / "z").rglob("*.pt")
    blob = torch.load(path, weights_only=False)
    torch.save({**blob, "z": torch.full_like(blob["z"], float("nan"))}, path)
    Editor(model, tok, **OK).targets([FRANCE])


def undone_from_outside(model, tok, tmp):
    editor = Editor(model, tok, method="emmet", preserve_edits=1.0, **OK)
    editor.apply([FRANCE])
    editlib.restore(model)
    editor.n_preserved


def identity_projection(model, tok, tmp):
    with Editor(model, tok, method="alphaedit", null_space_threshold=1e12, **OK).edited([FRANCE]):
        pass


WARNED = [
    ("eval split of a user's file", users_file, UserWarning, "leaves out 12 of the 12 cases"),
    ("subject twice in the prompt", subject_twice, UserWarning, "occurs 2 times"),
    ("NaN in a cached z", nan_in_cached_z, editlib.CacheWarning, "holds NaN or inf values"),
    ("edits undone from outside", undone_from_outside, UserWarning, "undone from outside"),
    ("AlphaEdit preserving nothing", identity_projection, UserWarning, "projection is the identity"),
]


@pytest.mark.parametrize("name, run, warning, fragment", WARNED, ids=[r[0] for r in WARNED])
def test_what_is_accepted_is_said(tiny_llama, env, name, run, warning, fragment):
    """Inputs that are usable but not as a user might assume: a warning of that kind,
    naming what happened; the model is left as it was."""
    m, tok = tiny_llama
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.warns(warning, match=fragment):
        run(m, tok, env)
    editlib.restore(m)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
