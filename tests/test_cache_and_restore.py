"""Nothing silently wrong: cache entries are identified by content, unreadable entries are
recomputed, edits are all-or-nothing, and restore can always bring back the originals."""
import re
import warnings

import pytest
import torch
from conftest import FACTS

import editlib
from editlib import CacheWarning, Editor, RestoreOrderError
from editlib.engine.edit.ledger import ledger
from editlib.engine.model.fingerprint import weights_fingerprint
from editlib.engine.model.tiny import tiny_model
from editlib.engine.statistics.corpus import resolve_corpus

REQS = FACTS
FAST = dict(mom2_dataset="model-samples", mom2_n_tokens=2000, v_num_grad_steps=3, progress=False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache directory and no data directory (the corpus is the model's samples)."""
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    (tmp_path / "no-data").mkdir()
    monkeypatch.setenv("EDITLIB_DATA", str(tmp_path / "no-data"))
    return tmp_path / "cache"


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(model, snapshot) -> bool:
    return all(torch.equal(v, snapshot[k]) for k, v in model.state_dict().items())


def editor(llama, layers=(1,), method="emmet", **kw):
    m, tok = llama
    return Editor(m, tok, method=method, layers=list(layers), **{**FAST, **kw})


# --------------------------------------------------------------------------- cache identity

def test_fingerprint_follows_the_weights_not_the_name(fresh_llama):
    m, tok = fresh_llama
    other, _ = tiny_model("llama")
    other.editlib_name = "some/other-alias"
    other.config._name_or_path = "/elsewhere/model.gguf"
    assert weights_fingerprint(m) == weights_fingerprint(other)       # same weights, any name
    before, below = weights_fingerprint(m), weights_fingerprint(m, upto_layer=1, arch=editlib.get_architecture(m))
    ed = editor(fresh_llama, layers=[2])
    ed.apply(REQS[:1])
    assert weights_fingerprint(m) != before                            # an edit changes the model's identity
    assert weights_fingerprint(m, upto_layer=1, arch=ed.arch) == below  # ... not that of the layers below it
    ed.restore()
    assert weights_fingerprint(m) == before


def test_the_tokenizer_key_is_the_same_whatever_its_last_call_left_set(fresh_llama):
    """A fast tokenizer keeps the last call's padding and truncation in its definition; the
    key must not: a notebook whose first key comes after a padded call and one whose first
    key comes before it share their cache entries (z, C0, templates)."""
    import copy

    from editlib.engine.model.fingerprint import tokenizer_fingerprint

    _, tok = fresh_llama
    plain, padded = copy.deepcopy(tok), copy.deepcopy(tok)
    padded.pad_token = padded.pad_token or padded.eos_token
    plain.pad_token = padded.pad_token
    padded(["the capital of France", "a"], padding=True, truncation=True, max_length=4)
    assert '"padding":{' in padded.backend_tokenizer.to_str()              # the state the key leaves out
    assert tokenizer_fingerprint(padded) == tokenizer_fingerprint(plain)
    other = copy.deepcopy(plain)
    other.add_tokens(["<a-new-token>"])
    assert tokenizer_fingerprint(other) != tokenizer_fingerprint(plain)   # ... while its definition counts


def test_a_second_editor_on_an_edited_model_never_poisons_the_cache(fresh_llama, cache, tmp_path):
    """Editor 1 edits; Editor 2 computes C0 and z on the edited model (cached); after
    restore, a fresh Editor must return what it returns with caching off. The corpus is a
    file and there are no sampled templates, so only the weights tell the models apart."""
    import random

    from editlib.engine.model.tiny import _TEXT

    words, rng = _TEXT.split(), random.Random(0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(" ".join(rng.choices(words, k=60)) for _ in range(60)))
    same_inputs = dict(mom2_dataset=str(corpus), context_template_lengths=())

    def ed(**kw):
        return editor(fresh_llama, layers=[2], **same_inputs, **kw)

    first = editor(fresh_llama, layers=[1], **same_inputs)
    first.apply(REQS[:1])
    second = ed()
    c_edited = second.covariances()[2].clone()
    z_edited, _ = second.targets(REQS[1:3])
    first.restore()

    fresh = ed()
    c_fresh, (z_fresh, info) = fresh.covariances()[2], fresh.targets(REQS[1:3])
    uncached = ed(use_cache=False)
    c_ref, (z_ref, _) = uncached.covariances()[2], uncached.targets(REQS[1:3])
    assert torch.equal(c_fresh, c_ref) and torch.equal(z_fresh, z_ref)
    assert info["cached"] == [False, False]                 # nothing of the edited model's was read back
    assert not torch.allclose(c_edited, c_ref) and not torch.allclose(z_edited, z_ref)   # the test can fail

    again = ed()                                             # and the unedited model's own entries are used
    z_again, info = again.targets(REQS[1:3])
    assert info["cached"] == [True, True] and torch.equal(z_again, z_ref)
    assert again.stats_info == {} and again.covariances()[2].equal(c_ref)
    assert again.stats_info["cached_layers"] == [2]


def test_auto_corpus_is_keyed_by_what_it_resolves_to(fresh_llama, tmp_path, monkeypatch):
    m, tok = fresh_llama
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDITLIB_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()                 # a data folder without WikiText: model samples
    without = resolve_corpus("auto", m, tok)
    (tmp_path / "data" / "wikitext2_valid.txt").write_text(" = A = \n Some text about Paris and Rome . \n")
    with_data = resolve_corpus("auto", m, tok)
    assert without.source == "model-samples" and with_data.source == "wikitext2"
    assert without.identity != with_data.identity
    (tmp_path / "data" / "wikitext2_valid.txt").write_text(" = A = \n Other text . \n")
    assert resolve_corpus("auto", m, tok).identity != with_data.identity     # content, not the file name


@pytest.mark.parametrize("kind", ["stats", "z", "templates"])
def test_an_unreadable_cache_entry_is_reported_once_and_replaced(fresh_llama, cache, kind):
    editor(fresh_llama).apply(REQS[:1])
    editlib.restore(fresh_llama[0])
    entries = [p for p in (cache / kind).rglob("*") if p.is_file()]
    assert entries
    for p in entries:
        p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])           # truncated
    ref = editor(fresh_llama, use_cache=False).apply(REQS[:1])
    editlib.restore(fresh_llama[0])
    with pytest.warns(CacheWarning, match=entries[0].name):
        result = editor(fresh_llama).apply(REQS[:1])
    editlib.restore(fresh_llama[0])
    assert all(torch.equal(result.deltas[n], ref.deltas[n]) for n in ref.deltas)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)                         # replaced: no second warning
        editor(fresh_llama).apply(REQS[:1])
    editlib.restore(fresh_llama[0])


@pytest.mark.parametrize("kind, field, spoil, reason", [
    ("z", "z", lambda t: torch.full_like(t, float("nan")), "NaN or inf"),
    ("z", "z", lambda t: t[:10].clone(), "has shape (10,)"),
    ("stats", "mom2", lambda t: t.clone().fill_(float("inf")), "NaN or inf"),
    ("stats", "mom2", lambda t: t[:4, :4].clone(), "has shape (4, 4)"),
])
def test_a_readable_entry_with_wrong_content_is_named_and_replaced(fresh_llama, cache, kind, field, spoil, reason):
    """A cache entry that loads but holds NaN, the wrong size or another entry's content
    is a CacheWarning naming the file and the problem, then recomputed; the edit equals
    one computed without the cache."""
    editor(fresh_llama).apply(REQS[:1])
    editlib.restore(fresh_llama[0])
    entries = [p for p in (cache / kind).rglob("*.pt")]
    assert entries
    for p in entries:
        blob = torch.load(p, weights_only=False)
        blob[field] = spoil(blob[field])
        torch.save(blob, p)
    ref = editor(fresh_llama, use_cache=False).apply(REQS[:1])
    editlib.restore(fresh_llama[0])
    with pytest.warns(CacheWarning, match=f"{entries[0].name}.*{re.escape(reason)}"):
        result = editor(fresh_llama).apply(REQS[:1])
    editlib.restore(fresh_llama[0])
    assert all(torch.equal(result.deltas[n], ref.deltas[n]) for n in ref.deltas)


def test_an_entry_copied_from_another_key_is_not_used(fresh_llama, cache):
    editor(fresh_llama).apply(REQS[:2])
    editlib.restore(fresh_llama[0])
    a, b = sorted((cache / "z").rglob("*.pt"))[:2]
    b.write_bytes(a.read_bytes())                                # b now holds a's z under b's name
    with pytest.warns(CacheWarning, match=f"{b.name}.*written for key"):
        editor(fresh_llama).targets(REQS[:2])


def test_each_cached_z_holds_its_own_vector_only(fresh_llama, cache):
    """A fact's z is saved with its own storage, not its batch's: an entry is one d_v vector
    on disk, whatever the batch it was optimised in."""
    editor(fresh_llama).targets(REQS[:3])
    entries = sorted((cache / "z").rglob("*.pt"))
    assert len(entries) == 3
    for p in entries:
        z = torch.load(p, weights_only=True)["z"]
        assert z.untyped_storage().nbytes() == z.numel() * z.element_size()


def test_edits_of_an_edited_model_are_cached_under_its_own_content(fresh_llama, cache):
    ed = editor(fresh_llama, layers=[1])
    ed.apply(REQS[:1])
    _, info = editor(fresh_llama, layers=[1]).targets(REQS[1:2])
    _, info_again = editor(fresh_llama, layers=[1]).targets(REQS[1:2])
    assert info["cached"] == [False] and info_again["cached"] == [True]


# --------------------------------------------------------------------------- all or nothing

def test_a_spread_edit_that_fails_on_a_later_layer_writes_nothing(fresh_llama, cache):
    m, _ = fresh_llama
    w0 = weights(m)
    ed = editor(fresh_llama, layers=[0, 1, 2])
    ed.covariances()
    ed._covs[1] = ed._covs[1] * float("nan")          # layer 0 is solved and written first
    with pytest.raises(FloatingPointError):
        ed.apply(REQS[:2])
    assert same(m, w0) and not ledger(m).is_edited()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_edit_is_rolled_back(fresh_llama, cache, monkeypatch, exc):
    import editlib.engine.edit.editor as editor_module

    m, _ = fresh_llama
    ed = editor(fresh_llama, layers=[0, 1, 2])
    ed.apply(REQS[:1])                                 # a live edit before: the rollback goes back to it
    after_first = weights(m)
    real, calls = editor_module.compute_keys, []

    def keys_then_fail(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise exc("interrupted")
        return real(*a, **k)

    monkeypatch.setattr(editor_module, "compute_keys", keys_then_fail)
    with pytest.raises(exc):
        ed.apply(REQS[1:2])
    assert same(m, after_first)
    monkeypatch.setattr(editor_module, "compute_keys", real)
    ed.restore()
    assert not ledger(m).is_edited()


# --------------------------------------------------------------------------- restore semantics

def test_restore_in_the_wrong_order_is_refused_and_the_right_order_works(fresh_llama, cache):
    m, _ = fresh_llama
    w0 = weights(m)
    a, b = editor(fresh_llama, layers=[1]), editor(fresh_llama, layers=[1])
    a.apply(REQS[:1])
    after_a = weights(m)
    b.apply(REQS[1:2])
    after_b = weights(m)
    with pytest.raises(RestoreOrderError, match="editlib.restore"):
        a.restore()
    assert same(m, after_b)                            # refused: nothing changed
    b.restore()
    assert same(m, after_a)
    a.restore()
    assert same(m, w0)


def test_editlib_restore_brings_back_the_originals_from_any_state(fresh_llama, cache):
    m, _ = fresh_llama
    w0 = weights(m)
    editor(fresh_llama, layers=[1]).apply(REQS[:1])
    editor(fresh_llama, layers=[1, 2]).apply(REQS[1:2])
    assert not same(m, w0)
    restored = editlib.restore(m)
    assert same(m, w0) and len(restored) == 2 and not ledger(m).is_edited()


def test_editors_on_different_weights_restore_independently(fresh_llama, cache):
    m, _ = fresh_llama
    w0 = weights(m)
    a, b = editor(fresh_llama, layers=[1]), editor(fresh_llama, layers=[2])
    a.apply(REQS[:1])
    b.apply(REQS[1:2])
    a.restore()
    name_b = b.arch.name("rewrite", 2) + ".weight"
    assert all(torch.equal(v, w0[k]) for k, v in m.state_dict().items() if k != name_b)
    assert not torch.equal(m.state_dict()[name_b], w0[name_b])
    b.restore()
    assert same(m, w0)


def test_edited_block_leaves_the_weights_as_it_found_them(fresh_llama, cache):
    m, _ = fresh_llama
    w0 = weights(m)
    a, b, c = editor(fresh_llama, layers=[1]), editor(fresh_llama, layers=[1]), editor(fresh_llama, layers=[2])
    a.apply(REQS[:1])
    entry = weights(m)
    with pytest.warns(UserWarning, match="other Editors"):
        with b.edited(REQS[1:2]):
            c.apply(REQS[2:3])                          # another Editor's edit inside the block
            a.apply(REQS[3:4])                          # and more of a's
    assert same(m, entry)
    with a.edited(REQS[1:2]):
        outer = weights(m)
        with a.edited(REQS[2:3]):
            assert not same(m, outer)
        assert same(m, outer) and not same(m, entry)      # the inner block undid only its own edit
    assert same(m, entry)
    a.restore()
    assert same(m, w0)


def test_sequential_edits_keep_one_copy_per_weight(fresh_llama, cache):
    m, _ = fresh_llama
    w0 = weights(m)
    ed = editor(fresh_llama, layers=[1, 2])
    for r in REQS:
        ed.apply([r])
    led = ledger(m)
    assert all(len(stack) == 1 and stack[0].base is None for stack in led.stacks.values())
    assert len(led.originals) == 2
    ed.restore()
    assert same(m, w0)


def test_statistics_come_from_before_the_editors_own_edits(fresh_llama, cache):
    ed = editor(fresh_llama, layers=[1])
    ed.apply(REQS[:1])
    ed.hparams.layers = [1, 2]
    with pytest.raises(RuntimeError, match="before this Editor's edits"):
        ed.covariances()


def test_concurrent_writers_never_leave_a_partial_entry(tmp_path):
    """Writers race on one cache entry while a reader loads it: every read is one of the
    complete entries (writes go to a temporary file, then rename)."""
    import threading

    from editlib.base.cache import atomic_save, load_cached

    path = tmp_path / "entry.pt"
    blobs = [{"z": torch.full((20_000,), float(i)), "info": {"writer": i}} for i in range(2)]
    atomic_save(blobs[0], path)
    stop, seen, bad = threading.Event(), set(), []

    def write(blob):
        while not stop.is_set():
            atomic_save(blob, path)

    def read():
        for _ in range(200):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = load_cached(path)
            if got is None or caught or not torch.equal(got["z"], blobs[got["info"]["writer"]]["z"]):
                bad.append(got)
            else:
                seen.add(got["info"]["writer"])
        stop.set()

    threads = [threading.Thread(target=write, args=(b,)) for b in blobs] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad and seen and not list(tmp_path.glob("*.tmp"))
