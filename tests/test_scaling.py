"""The scale engine: z in groups (bounded memory), mixed precision, the bucketed covariance pass."""
import gc
import warnings

import pytest
import torch

from editlib import Editor
from editlib.base.precision import compute, exact
from editlib.engine.model.architectures import get_architecture
from editlib.engine.model.hooks import trace
from editlib.engine.model.tiny import tiny_model
from editlib.engine.statistics.corpus import length_batches, token_windows
from editlib.engine.statistics.covariance import moment_pass, second_moments
from editlib.engine.targets import values as values_mod
from editlib.engine.targets import z_batches
from editlib.engine.targets.requests import as_requests
from editlib.engine.targets.values import compute_z
from editlib.engine.targets.z_settings import ZSettings

SUBJECTS = ["Danielle Darrieux", "France", "Toko Yasuda", "Apple A5", "Lionel Messi", "Berlin", "Rome",
            "the Eiffel Tower", "Tokyo", "Canada", "Spain", "London", "Paris", "England", "Japan", "Italy"]
TEMPLATES = ["{}", "The a b. {}", "Therefore Paris is. {}", "Rome is in. {}"]


def facts(n):
    """``n`` distinct requests of varied lengths."""
    return as_requests([{"prompt": "The capital of {} is" + " the" * (i % 3),
                         "subject": SUBJECTS[i % 16] + " of Rome" * (i // 16),
                         "target_new": ["Rome", "Paris", "the United Kingdom"][i % 3], "case_id": i}
                        for i in range(n)])


def test_groups_respect_the_budget_and_keep_every_fact_once(tiny_llama):
    model, tok = tiny_llama
    prompts = z_batches.fact_prompts(tok, facts(24), TEMPLATES, "subject_last")
    chunks = list(z_batches.chunks(range(24), prompts, 64))
    for budget in (1, 150, 400, 10**9):
        groups = z_batches.groups(chunks, prompts, budget)
        assert sorted(f for g in groups for ch in g for f in ch) == list(range(24))
        for g in groups:
            used = sum(z_batches.prompt_tokens(prompts[f]) for ch in g for f in ch)
            assert used <= budget or len(g) == 1          # only a single over-budget chunk may exceed it
    assert len(z_batches.groups(chunks, prompts, 10**9)) == 1
    assert len(z_batches.groups(chunks, prompts, 1)) == len(chunks)


def test_z_in_groups_equals_z_in_one_group(tiny_llama):
    """Each fact's trajectory is its own: optimising facts in many small groups gives the
    same z, loss and step count per fact as one group holding them all."""
    model, tok = tiny_llama
    arch = get_architecture(model)
    reqs = facts(12)
    _, probe = compute_z(model, tok, arch, reqs, 2, TEMPLATES, ZSettings(v_num_grad_steps=6, v_early_stop_loss=0),
                         progress=False)
    thr = sorted(c[2] for c in probe["loss_curve"])[6]       # about half the facts stop early
    s = ZSettings(v_num_grad_steps=6, v_early_stop_loss=thr, max_tokens=64)
    z_one, info_one = compute_z(model, tok, arch, reqs, 2, TEMPLATES, s, progress=False)
    s.group_tokens = 100
    assert len(z_batches.plan_groups(tok, reqs, TEMPLATES, s)[1]) > 2
    z_grp, info_grp = compute_z(model, tok, arch, reqs, 2, TEMPLATES, s, progress=False)
    torch.testing.assert_close(z_grp, z_one, rtol=1e-6, atol=1e-6)
    assert info_grp["steps"] == info_one["steps"]
    assert len(set(info_one["steps"])) > 1                    # early stopping did differ between facts
    torch.testing.assert_close(torch.tensor(info_grp["loss"]), torch.tensor(info_one["loss"]), rtol=1e-6, atol=1e-6)


def test_editor_targets_cache_each_group_and_ignore_the_budgets_in_the_key(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path))
    model, tok = tiny_llama
    reqs = facts(6)
    ed = Editor(model, tok, method="emmet", layers=[2], v_num_grad_steps=3, group_tokens=60, max_tokens=64,
                mom2_dataset="model-samples", mom2_n_tokens=500)
    z, info = ed.targets(reqs)
    assert info["cached"] == [False] * 6
    other = Editor(model, tok, method="emmet", layers=[2], v_num_grad_steps=3, group_tokens=10**6, max_tokens=4096,
                   mom2_dataset="model-samples", mom2_n_tokens=500)
    z2, info2 = other.targets(reqs)
    assert info2["cached"] == [True] * 6 and torch.equal(z, z2)


def _tensors():
    with warnings.catch_warnings():                  # isinstance on deprecated torch aliases warns
        warnings.simplefilter("ignore")
        return [o for o in gc.get_objects() if isinstance(o, torch.Tensor) and not o.is_meta]


def _live_storages() -> set[int]:
    return {t.untyped_storage().data_ptr() for t in _tensors()}


def _live_tensor_bytes(exclude: set[int]) -> int:
    """Bytes of every tensor storage reachable by the garbage collector, but ``exclude``d."""
    seen, total = set(exclude), 0
    for t in _tensors():
        ptr = t.untyped_storage().data_ptr()
        if ptr not in seen:
            seen.add(ptr)
            total += t.untyped_storage().nbytes()
    return total


def test_z_memory_does_not_grow_with_the_number_of_facts(tiny_llama, monkeypatch):
    """Peak bytes of tensors z creates (sampled at every chunk forward; whatever was alive
    before, the model's weights included, is left out): 4× the facts may hold at most
    1.2× as much, since a group is optimised to completion and freed before the next."""
    model, tok = tiny_llama
    arch = get_architecture(model)
    peak = {"bytes": 0, "before": set()}
    forward = values_mod._Chunk.forward

    def sampled(self, *a, **k):
        peak["bytes"] = max(peak["bytes"], _live_tensor_bytes(peak["before"]))
        return forward(self, *a, **k)

    def z_peak(n, s):
        gc.collect()
        peak["bytes"], peak["before"] = 0, _live_storages()
        compute_z(model, tok, arch, facts(n), 2, TEMPLATES, s, progress=False)
        return peak["bytes"]

    monkeypatch.setattr(values_mod._Chunk, "forward", sampled)
    s = ZSettings(v_num_grad_steps=2, v_early_stop_loss=0.0, max_tokens=128, group_tokens=400)
    peaks = {n: z_peak(n, s) for n in (16, 64)}
    assert peaks[64] <= 1.2 * peaks[16], peaks
    s.group_tokens = 10**9                                     # one group: memory grows with the facts
    assert z_peak(64, s) > 3 * peaks[16], peaks


# ----------------------------------------------------------------- mixed precision

@pytest.mark.parametrize("dtype", ["bfloat16", "tf32"])
def test_mixed_precision_z_agrees_with_float32(tiny_llama, dtype):
    """bfloat16 autocast changes z by round-off only: per-fact cosine ≥ 0.995 and a
    relative difference ≤ 5 % on a tiny random model, whose wide initialisation makes it
    more sensitive than a trained one (tf32 is exact on a CPU)."""
    model, tok = tiny_llama
    arch = get_architecture(model)
    reqs = facts(8)
    s = ZSettings(v_num_grad_steps=5, v_early_stop_loss=0.0)
    z32, _ = compute_z(model, tok, arch, reqs, 2, TEMPLATES, s, progress=False)
    s.compute_dtype = dtype
    z16, _ = compute_z(model, tok, arch, reqs, 2, TEMPLATES, s, progress=False)
    assert z16.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity(z16, z32, dim=-1)
    assert cos.min() >= 0.995
    assert ((z16 - z32).norm(dim=-1) / z32.norm(dim=-1)).max() <= 0.05
    if dtype == "tf32":
        torch.testing.assert_close(z16, z32)


def test_exact_turns_autocast_off_inside_compute():
    a, b = torch.randn(32, 32), torch.randn(32, 32)
    with compute("cpu", "bfloat16"):
        assert (a @ b).dtype == torch.bfloat16
        with exact("cpu"):
            assert (a @ b).dtype == torch.float32
            assert torch.get_float32_matmul_precision() == "highest"


# ----------------------------------------------------------------- covariance

def _windows_one_document_at_a_time(tok, docs, n_tokens, seq_len):
    """The windowing the covariance pass used before batched tokenisation (reference)."""
    out, got = [], 0
    for doc in docs:
        ids = tok(doc)["input_ids"]
        for i in range(0, len(ids), seq_len):
            w = ids[i:i + seq_len]
            if len(w) < 8:
                continue
            w = w[: n_tokens - got]
            out.append(w)
            got += len(w)
            if got >= n_tokens:
                return out
    return out


DOCS = ["The capital of France is Paris. " * k + "Rome is in Italy." for k in range(1, 30)] + ["short", "a b"]


def test_token_windows_match_the_per_document_windowing(tiny_llama):
    _, tok = tiny_llama
    for n, seq in [(10**6, 32), (700, 32), (301, 16)]:
        assert token_windows(tok, DOCS, n, seq, docs_per_call=4) == _windows_one_document_at_a_time(tok, DOCS, n, seq)


def test_length_batches_cover_each_window_once_within_the_budget():
    windows = [[1] * n for n in (5, 128, 9, 64, 64, 128, 17, 300)]
    batches = length_batches(windows, 256)
    assert sorted(i for b in batches for i in b) == list(range(len(windows)))
    for b in batches:
        width = max(len(windows[i]) for i in b)
        assert len(b) * width <= 256 or len(b) == 1
        assert all(len(windows[i]) <= len(windows[b[0]]) for i in b)   # longest first


@pytest.mark.parametrize("arch_name", ["gpt2", "gemma3"])
def test_bucketed_moment_pass_equals_the_plain_sum(arch_name):
    """Σ k kᵀ from the bucketed, padded, truncated pass equals a window-by-window sum of the
    keys read with a plain forward (to float32 round-off), for any batch budget."""
    model, tok = tiny_model(arch_name)
    arch = get_architecture(model)
    windows = token_windows(tok, DOCS, 3000, 48)
    ref = {}
    for w in windows:
        ids = torch.tensor([w])
        got = trace(model, ids, torch.ones_like(ids), {arch.name("rewrite", l): "in" for l in (1, 2)},
                    torch.zeros(len(w), dtype=torch.long), torch.arange(len(w)))
        for l in (1, 2):
            k = got[arch.name("rewrite", l)].double()
            ref[l] = ref.get(l, 0) + k.T @ k
    for budget in (1, 100, 10**6):
        acc = moment_pass(model, tok, arch, [1, 2], windows, budget, progress=False)
        for l in (1, 2):
            assert acc[l].dtype == torch.float64
            torch.testing.assert_close(acc[l], ref[l], rtol=1e-5, atol=1e-5 * ref[l].abs().max().item())


def test_bfloat16_covariance_is_close_and_cached_apart(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path))
    model, tok = tiny_llama
    arch = get_architecture(model)
    text = tmp_path / "corpus.txt"
    text.write_text("\n\n".join(DOCS))
    c32, _ = second_moments(model, tok, arch, [2], corpus=str(text), n_tokens=3000, progress=False)
    c16, info = second_moments(model, tok, arch, [2], corpus=str(text), n_tokens=3000, compute_dtype="bfloat16",
                               progress=False)
    assert info["cached_layers"] == []                         # not read back from the float32 entry
    rel = (c16[2] - c32[2]).norm() / c32[2].norm()
    assert 0 < rel < 0.05
    _, again = second_moments(model, tok, arch, [2], corpus=str(text), n_tokens=3000, batch_tokens=64,
                              progress=False)
    assert again["cached_layers"] == [2]                       # the batch budget is not in the key


# ----------------------------------------------------------------- the benchmark script

def test_scale_benchmark_tiny_runs_and_prints_every_measure(tmp_path):
    """``benchmarks/scale.py --tiny`` (small sizes here) builds the stand-in model, and its
    table holds a positive, finite figure for each measure."""
    import math
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "EDITLIB_CACHE": str(tmp_path)}
    cmd = [sys.executable, str(root / "benchmarks" / "scale.py"), "--tiny", "--models", "llama-2-7b", "--facts", "4",
           "8", "--solve", "16", "64", "--cov-tokens", "6000", "--steps", "2", "--batch", "4", "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in out.stdout.splitlines() if line.startswith("| llama-2-7b")]
    measures = {r[1].strip() for r in rows}
    assert {"covariance", "z", "solve", "edit path"} <= measures, out.stdout[-3000:]
    for r in rows:
        value = float(r[3].replace(",", ""))
        assert math.isfinite(value) and value > 0, r
    assert sum(r[1].strip() == "solve" for r in rows) == 4          # MEMIT and EMMET at two batch sizes
    assert "GiB" in out.stdout
