"""The edit path on tiny random models of each architecture the paper uses."""
import pytest
import torch
from conftest import FACTS

from editlib import Editor, EditRequestError, SingularSystemError, UnknownArchitectureError
from editlib.engine.model.architectures import as_w, get_architecture
from editlib.engine.model.tiny import TINY, tiny_model
from editlib.engine.targets.keys import compute_keys
from editlib.engine.targets.requests import as_requests
from editlib.engine.targets.values import compute_z
from editlib.engine.targets.z_settings import ZSettings

REQS = FACTS[:3]


@pytest.mark.parametrize("method", ["rome", "memit", "emmet"])
def test_edit_changes_only_the_rewrite_weight_and_restores_exactly(tiny, method, tiny_cov_settings):
    model, tok = tiny
    arch = get_architecture(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    editor = Editor(model, tok, method=method, layers=[2], v_num_grad_steps=3, **tiny_cov_settings)
    with editor.edited(REQS[:1]) as result:
        changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
        assert changed == [arch.name("rewrite", 2) + ".weight"]
        assert list(result.deltas) == [arch.name("rewrite", 2)]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_update_has_the_right_orientation(tiny, tiny_cov_settings):
    """Running the rewrite module itself on the edit key must move its output by R."""
    model, tok = tiny
    arch = get_architecture(model)
    module = model.get_submodule(arch.name("rewrite", 1))
    editor = Editor(model, tok, method="emmet", layers=[1], mu=0.0, v_num_grad_steps=3, **tiny_cov_settings)
    reqs = as_requests(REQS[:2])
    keys = compute_keys(model, tok, arch, reqs, [1], editor.templates)[1]
    with torch.no_grad():
        out0 = module(keys.T.contiguous())
    w_shape = module.weight.shape
    with editor.edited(reqs) as result:
        assert module.weight.shape == w_shape
        delta = result.deltas[arch.name("rewrite", 1)]
        assert as_w(module.weight, arch).shape == delta.shape
        with torch.no_grad():
            out1 = module(keys.T.contiguous())
        moved = (out1 - out0).double().T                       # (d_v, B)
        expected = delta @ keys.double()
        torch.testing.assert_close(moved, expected, rtol=1e-3, atol=1e-4)
        assert result.diagnostics[0]["relative_residual"] < 1e-6   # μ = 0: constraints hold


def test_batched_z_equals_per_fact_z():
    model, tok = tiny_model("llama")
    arch = get_architecture(model)
    reqs = as_requests(REQS)
    templates = ["{}", "The a b. {}", "Therefore Paris is. {}"]
    # pick an early-stopping threshold that fact 1 crosses after 3 steps and the others never
    _, probe = compute_z(model, tok, arch, reqs, 2, templates, ZSettings(v_num_grad_steps=8, v_early_stop_loss=0),
                         progress=False)
    curve = probe["loss_curve"][1]
    thr = 0.5 * (curve[2] + curve[3])
    assert min(probe["loss_curve"][0] + probe["loss_curve"][2]) > thr
    s = ZSettings(v_num_grad_steps=8, v_early_stop_loss=thr)
    z_batch, info = compute_z(model, tok, arch, reqs, 2, templates, s, progress=False)
    assert info["steps"] == [7, 3, 7]                           # per-fact early stopping
    for i, r in enumerate(reqs):
        z_one, info_one = compute_z(model, tok, arch, [r], 2, templates, s, progress=False)
        assert info_one["steps"][0] == info["steps"][i]
        torch.testing.assert_close(z_batch[i], z_one[0], rtol=1e-4, atol=1e-4)
    # a tiny memory budget forces one fact per chunk: same result
    s.max_tokens = 1
    z_chunked, _ = compute_z(model, tok, arch, reqs, 2, templates, s, progress=False)
    torch.testing.assert_close(z_batch, z_chunked, rtol=1e-4, atol=1e-4)


def test_clamp_bounds_delta():
    model, tok = tiny_model("gpt2")
    arch = get_architecture(model)
    reqs = as_requests(REQS[:2])
    s = ZSettings(v_num_grad_steps=6, clamp_norm_factor=0.05, v_early_stop_loss=0.0)
    _, info = compute_z(model, tok, arch, reqs, 1, ["{}"], s, progress=False)
    for d, h in zip(info["delta_norm"], info["h_norm"]):
        assert d <= 0.05 * h * (1 + 1e-5)


# ----------------------------------------------------------------- bad input

def _editor(tiny_llama, **kw):
    model, tok = tiny_llama
    opts = dict(mom2_dataset="model-samples", mom2_n_tokens=3000, use_cache=False, progress=False,
                v_num_grad_steps=2)
    opts.update(kw)
    return Editor(model, tok, **opts)


def test_subject_not_in_prompt(tiny_llama):
    with pytest.raises(EditRequestError, match="not in the prompt"):
        _editor(tiny_llama, layers=[1]).apply([{"prompt": "The capital of Spain is", "subject": "France",
                                                "target_new": "Rome"}])


@pytest.mark.parametrize("target", ["", "   "])
def test_empty_target(tiny_llama, target):
    with pytest.raises(EditRequestError, match="empty"):
        _editor(tiny_llama, layers=[1]).apply([{**REQS[1], "target_new": target}])


def test_layer_out_of_range(tiny_llama):
    with pytest.raises(ValueError, match="out of range.*4 layers"):
        _editor(tiny_llama, layers=[4])


def test_unknown_architecture():
    import transformers as tf

    model = tf.AutoModelForCausalLM.from_config(tf.BloomConfig(n_layer=1, hidden_size=16, n_head=2, vocab_size=50))
    with pytest.raises(UnknownArchitectureError, match="register_architecture"):
        Editor(model, None, layers=[0])


def test_conflicting_targets_in_one_batch(tiny_llama):
    with pytest.raises(EditRequestError, match="different targets"):
        _editor(tiny_llama, layers=[1]).apply([REQS[1], {**REQS[1], "target_new": "Madrid"}])


def test_emmet_without_ridge_on_rank_deficient_keys(tiny_llama):
    model, _ = tiny_llama
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    # the key is read at the subject's last token: a prompt that differs only after the
    # subject gives the same key (exact duplicates would be written once, not solved twice)
    twin = {**REQS[1], "prompt": "The capital of {} was", "target_new": "Rome"}
    with pytest.raises(SingularSystemError, match="mu"):
        _editor(tiny_llama, method="emmet", layers=[1], mu=0.0).apply([REQS[1], twin, REQS[0]])
    assert all(torch.equal(v, w0[k]) for k, v in model.state_dict().items())   # nothing was written


def test_nan_in_values_is_refused(tiny_llama):
    model, tok = tiny_llama
    ed = _editor(tiny_llama, layers=[1])
    ed.covariances()
    ed._covs[1] = ed._covs[1] * float("nan")
    with pytest.raises(FloatingPointError, match="NaN"):
        ed.apply(REQS[:1])


def test_rome_refuses_a_batch_and_unknown_settings(tiny_llama):
    with pytest.raises(ValueError, match="one fact at a time"):
        _editor(tiny_llama, method="rome", layers=[1]).apply(REQS[:2])
    with pytest.raises(TypeError, match="unknown hyperparameter"):
        _editor(tiny_llama, method="rome", layers=[1], lam=3)
    with pytest.raises(KeyError, match="unknown method"):
        _editor(tiny_llama, method="ft", layers=[1])


@pytest.mark.parametrize("model_type", TINY)
def test_z_loss_at_zero_delta_matches_plain_scoring(model_type):
    """The prefix-cached, left-aligned suffix pass must score like a plain forward."""
    from editlib.evaluation.metrics.scoring import target_nll

    model, tok = tiny_model(model_type)
    arch = get_architecture(model)
    reqs = as_requests(REQS)
    templates = ["{}", "The a b. {}", "Berlin and Rome. {}"]
    _, info = compute_z(model, tok, arch, reqs, 1, templates, ZSettings(v_num_grad_steps=1), progress=False)
    for i, r in enumerate(reqs):
        prompts = [t.format(r.text) for t in templates]
        expected = target_nll(model, tok, prompts, [r.target_new] * len(prompts)).mean()
        assert info["loss_curve"][i][0] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("method", ["rome", "rome_original", "emmet"])
def test_one_editor_factorizes_c0_once_and_edits_as_a_fresh_one_does(tiny_llama, method, tiny_cov_settings):
    """Single edits one after another (restored between) reuse the layer's factor of C0
    (EMMET: of λC0 + λ_n I); each update equals, to the bit, the one a fresh Editor makes."""
    from editlib.engine.algebra.solvers import Factorized

    model, tok = tiny_llama
    settings = dict(method=method, layers=[1], v_num_grad_steps=3, norm_constraint=5.0 if method == "emmet" else None,
                    **tiny_cov_settings)
    settings = {k: v for k, v in settings.items() if v is not None}
    editor = Editor(model, tok, **settings)
    for fact in FACTS[:3]:
        with editor.edited([fact]) as reused:
            pass
        assert isinstance(editor._prepared[1], Factorized)
        with Editor(model, tok, **settings).edited([fact]) as fresh:
            pass
        name = next(iter(fresh.deltas))
        assert torch.equal(reused.deltas[name], fresh.deltas[name])
