"""Presets are found for the model whatever name it was loaded under: by name, else by the
architecture's shape and vocabulary (a .gguf path, a local directory)."""
from types import SimpleNamespace

import pytest

from editlib.engine.edit.presets import available_presets, load_preset, preset_for_identity
from editlib.engine.model.fingerprint import model_identity


def configs():
    import transformers as tf

    return {"gpt2-xl": tf.GPT2Config(n_layer=48, n_embd=1600, n_head=25),   # the hub's gpt2-xl config
            "gpt-j-6b": tf.GPTJConfig(),                                     # defaults are GPT-J-6B's
            "llama-2-7b": tf.LlamaConfig()}                                  # defaults are Llama-2-7b's


@pytest.mark.parametrize("name", ["gpt2-xl", "gpt-j-6b", "llama-2-7b"])
def test_the_paper_models_match_their_presets_by_shape(name):
    identity = model_identity(SimpleNamespace(config=configs()[name]))
    assert load_preset(name).identity == identity
    assert preset_for_identity(identity).name == name


def test_every_preset_has_a_unique_identity_and_unknown_shapes_have_none():
    identities = [load_preset(p).identity for p in available_presets()]
    assert len(set(identities)) == len(identities)
    assert preset_for_identity("llama-4x64-v400") is None
