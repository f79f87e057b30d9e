"""ROME as its authors wrote it (method "rome_original") beside the unified ROME (EMMET with
one fact): the same pipeline with other conventions, on tiny random models."""
import pytest
import torch
from conftest import DARRIEUX

from editlib import Editor, HyperparameterError
from editlib.engine.edit.methods import ROME_ORIGINAL
from editlib.engine.edit.presets import _validate_preset, load_preset
from editlib.engine.model.architectures import get_architecture
from editlib.engine.model.tiny import tiny_model
from editlib.engine.targets.keys import template_keys
from editlib.engine.targets.requests import as_requests

REQ = [DARRIEUX]
FAST = dict(mom2_dataset="model-samples", mom2_n_tokens=2000, v_num_grad_steps=4, use_cache=False, progress=False)


def test_the_method_brings_rome_s_conventions_and_keywords_still_win(tiny_llama):
    m, tok = tiny_llama
    ed = Editor(m, tok, method="rome_original", layers=[1], **FAST)
    hp = ed.hparams
    assert (hp.value_site, hp.key_average, hp.clamp_norm_factor, hp.context_template_lengths) == \
        ("rewrite", "uniform", 4.0, ((5, 10), (10, 10)))
    assert hp.v_num_grad_steps == 4                                   # the caller's keyword
    assert ed.arch.value_site == "rewrite" and get_architecture(m).value_site == "block"
    assert Editor(m, tok, method="rome", layers=[1], **FAST).hparams.value_site is None


def test_preset_sections_may_set_pipeline_settings_per_method():
    d = {**vars(load_preset("gpt2-xl")), "methods": {"rome_original": {"clamp_norm_factor": 3.0},
                                                     "memit": {"mom2_update_weight": 20000}}}
    p = _validate_preset(d, "test")
    assert p.edit_hparams("single", method="rome_original").clamp_norm_factor == 3.0
    assert p.edit_hparams("single", method="rome_original").key_average == "uniform"
    assert p.edit_hparams("single", method="rome").clamp_norm_factor == 0.75
    assert p.method_config("memit").mom2_update_weight == 20000
    assert p.edit_hparams("single", method="rome_original", clamp_norm_factor=2.0).clamp_norm_factor == 2.0


@pytest.mark.parametrize("model_type", ["llama", "gpt2"])
def test_the_update_writes_v_star_exactly_at_the_plain_prompt_s_key(model_type):
    m, tok = tiny_model(model_type)
    arch = get_architecture(m)
    layer = 1
    ed = Editor(m, tok, method="rome_original", layers=[layer], context_template_lengths=((3, 3),), **FAST)
    keys = template_keys(m, tok, arch, as_requests(REQ), [layer], ed.templates)[layer]   # (4, 1, d_k)
    k_plain = keys[0]
    module = m.get_submodule(arch.name("rewrite", layer))
    w0 = {k: v.clone() for k, v in m.state_dict().items()}
    with ed.edited(REQ) as result:
        with torch.no_grad():
            written = module(k_plain)[0]                              # Ŵ k_plain: the MLP output
        torch.testing.assert_close(written, result.z[0], rtol=1e-4, atol=1e-4)
        assert result.diagnostics[0]["relative_residual"] < 1e-8
        assert result.diagnostics[0]["relative_residual_mean_key"] > 1e-6   # k* ≠ k_plain here
        h = result.z_info["h_norm"][0]
        assert result.z_info["delta_norm"][0] <= 4.0 * h * (1 + 1e-5)      # the clamp is relative to ‖MLP out‖
    assert all(torch.equal(v, w0[k]) for k, v in m.state_dict().items())


def _delta(tiny_llama, method, **kw):
    m, tok = tiny_llama
    with Editor(m, tok, method=method, layers=[1], **{**FAST, **kw}).edited(REQ) as r:
        return r.deltas[get_architecture(m).name("rewrite", 1)]


def test_with_the_same_conventions_and_one_template_the_two_romes_coincide(tiny_llama):
    same = dict(value_site="block", key_average="half_plain", clamp_norm_factor=0.75, context_template_lengths=())
    torch.testing.assert_close(_delta(tiny_llama, "rome_original", **same), _delta(tiny_llama, "rome", **same),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("differs", [dict(context_template_lengths=((3, 3),)),       # k* ≠ k_plain
                                     dict(value_site="rewrite", context_template_lengths=()),
                                     dict(key_average="uniform", context_template_lengths=((3, 3),))])
def test_each_convention_that_differs_changes_the_update(tiny_llama, differs):
    unified = dict(value_site="block", key_average="half_plain", clamp_norm_factor=0.75)
    a = _delta(tiny_llama, "rome_original", **{**unified, **differs})
    kept = {k: v for k, v in differs.items() if k == "context_template_lengths"}
    b = _delta(tiny_llama, "rome", **{**unified, **kept})
    assert (a - b).norm() > 1e-3 * b.norm()


def test_block_value_site_is_refused_where_it_is_not_linear_in_w():
    m, tok = tiny_model("gemma3")
    with pytest.raises(HyperparameterError, match="not linear"):
        Editor(m, tok, method="rome", layers=[1], value_site="block", **FAST)
    assert Editor(m, tok, method="rome_original", layers=[1], **FAST).arch.value_site == "rewrite"


def test_rome_original_refuses_a_batch(tiny_llama):
    m, tok = tiny_llama
    with pytest.raises(ValueError, match="one fact at a time"):
        Editor(m, tok, method="rome_original", layers=[1], **FAST).apply(REQ + [{**REQ[0], "subject": "Jean Gabin"}])


def test_conventions_are_recorded_with_the_result(tiny_llama):
    m, tok = tiny_llama
    ed = Editor(m, tok, method="rome_original", layers=[1], context_template_lengths=((3, 2),), **FAST)
    with ed.edited(REQ) as r:
        assert r.hparams["value_site"] == "rewrite" and r.hparams["key_average"] == "uniform"
    assert set(ROME_ORIGINAL) <= set(r.hparams)
