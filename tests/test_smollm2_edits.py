"""Edits that change a real model's prediction: SmolLM2-135M (real weights, offline)."""
import pytest
import torch
from conftest import DARRIEUX

from editlib import Editor
from editlib.evaluation.data import load_cases
from editlib.evaluation.metrics.scoring import target_nll

pytestmark = pytest.mark.slow
NEIGHBOUR = "The mother tongue of Jean Gabin is"     # another French speaker
FAST_STATS = dict(mom2_n_tokens=20_000)              # C0 from 20k WikiText tokens (cached)


def prefers(model, tok, prompt, a, b) -> bool:
    """True when the model gives ``a`` a lower mean NLL than ``b`` after ``prompt``."""
    nll = target_nll(model, tok, [prompt, prompt], [a, b])
    return bool(nll[0] < nll[1])


def test_unedited_model_knows_the_facts(smollm2):
    model, tok = smollm2
    assert prefers(model, tok, "The mother tongue of Danielle Darrieux is", "French", "English")
    assert prefers(model, tok, NEIGHBOUR, "French", "English")


@pytest.mark.parametrize("method", ["rome", "rome_original", "memit", "emmet"])
def test_single_edit_rewrites_the_fact_and_spares_the_neighbour(smollm2, method):
    model, tok = smollm2
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    editor = Editor(model, tok, method=method, progress=False, **FAST_STATS)
    with editor.edited([DARRIEUX]) as result:
        assert prefers(model, tok, "The mother tongue of Danielle Darrieux is", "English", "French")
        assert prefers(model, tok, "Danielle Darrieux's mother tongue is", "English", "French")   # paraphrase
        assert prefers(model, tok, NEIGHBOUR, "French", "English")
        d = result.diagnostics[0]
        assert d["preservation_cost"] > 0 and d["condition_number"] >= 1
        if method in ("rome", "rome_original", "emmet"):
            assert d["relative_residual"] < 1e-8          # equality constraint: met exactly
        else:
            assert d["relative_residual"] > 1e-3          # least squares: met only approximately
    assert all(torch.equal(v, w0[k]) for k, v in model.state_dict().items())


def test_emmet_batch_of_eight_facts_all_take(smollm2):
    model, tok = smollm2
    cases = load_cases("embedded", n=8, seed=3)
    editor = Editor(model, tok, method="emmet", progress=False, **FAST_STATS)
    rw = [c["requested_rewrite"] for c in cases]
    prompts = [r["prompt"].format(r["subject"]) for r in rw]
    before_new = target_nll(model, tok, prompts, [r["target_new"]["str"] for r in rw])
    before_true = target_nll(model, tok, prompts, [r["target_true"]["str"] for r in rw])
    assert (before_true < before_new).sum() >= 4        # before: the true object wins at least half
    with editor.edited(cases) as result:
        new = target_nll(model, tok, prompts, [r["target_new"]["str"] for r in rw])
        true = target_nll(model, tok, prompts, [r["target_true"]["str"] for r in rw])
        assert (new < true).all(), list(zip(new, true))
        assert result.diagnostics[0]["batch_size"] == 8


def test_spread_edit_updates_every_layer(smollm2):
    model, tok = smollm2
    editor = Editor(model, tok, method="memit", layers="spread", progress=False, **FAST_STATS)
    with editor.edited([DARRIEUX]) as result:
        assert len(result.deltas) == len(editor.hparams.layers) > 1
        assert [d["layer"] for d in result.diagnostics] == editor.hparams.layers
        assert prefers(model, tok, "The mother tongue of Danielle Darrieux is", "English", "French")


def test_loaded_by_its_gguf_path_it_finds_its_preset_and_shares_the_caches(smollm2):
    from editlib import load_model
    from editlib.engine.model.fingerprint import weights_fingerprint
    from editlib.engine.model.loading import _smollm2_gguf

    model, tok = load_model(str(_smollm2_gguf()), device="cpu")      # converted once, shared with the alias
    assert model.editlib_name.endswith(".gguf")
    editor = Editor(model, tok, method="emmet", layers="single", progress=False)
    assert editor.preset.name == "smollm2-135m" and editor.hparams.layers == editor.preset.layers_single
    assert weights_fingerprint(model) == weights_fingerprint(smollm2[0])   # same weights: same cache keys
    w = model.get_submodule(editor.arch.name("rewrite", 0)).weight          # down_proj: (d_model, d_k)
    assert editor.preset.d_k == w.shape[1] == 1536          # the width the paper profile's batches must pass


def test_an_edited_model_saved_with_save_pretrained_keeps_its_edit(smollm2, tmp_path):
    """The model loaded from GGUF saves as safetensors with transformers' own
    save_pretrained; reloaded by path, it still says the new fact and is recognised as
    SmolLM2 (its preset found by shape)."""
    from editlib import load_model
    from editlib.evaluation.metrics.generation import greedy_continuations

    model, tok = smollm2
    prompt = ["The mother tongue of Danielle Darrieux is"]
    assert greedy_continuations(model, tok, prompt, 3)[0].strip().startswith("French")
    editor = Editor(model, tok, method="emmet", progress=False, **FAST_STATS)
    with editor.edited([DARRIEUX]) as result:
        assert greedy_continuations(model, tok, prompt, 3)[0].strip().startswith("English")
        model.save_pretrained(tmp_path / "edited")
        tok.save_pretrained(tmp_path / "edited")
        name = editor.arch.name("rewrite", result.layers[0])
        edited_w = model.get_submodule(name).weight.detach().clone()
    files = {p.name for p in (tmp_path / "edited").iterdir()}
    assert "model.safetensors" in files and not {f for f in files if f.endswith((".bin", ".gguf"))}
    again, tok2 = load_model(str(tmp_path / "edited"), device="cpu")
    assert torch.equal(again.get_submodule(name).weight, edited_w)          # the written Δ, bit for bit
    assert greedy_continuations(again, tok2, prompt, 3)[0].strip().startswith("English")
    assert Editor(again, tok2, method="emmet", progress=False).preset.name == "smollm2-135m"
    assert greedy_continuations(model, tok, prompt, 3)[0].strip().startswith("French")   # the original, restored
