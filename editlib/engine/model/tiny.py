"""Tiny randomly initialised models of the paper's architectures, for tests and CI.

``tiny_model("gpt2")`` builds a 4-layer model from a config of that architecture, with a
small byte-level BPE tokenizer trained on a built-in paragraph, so that every code path
(GPT-2's transposed Conv1D, GPT-J's parallel block, Llama, Gemma-3's post-MLP norm) runs
offline in well under a second. Seeded: the same call gives the same weights. The loader
knows them by name (``load_model("tiny-llama")``) and imports this module on first use.
"""
from __future__ import annotations

from ...base.seeding import seeded
from .loading import TINY, dispatch

__all__ = ["TINY", "tiny_model", "tiny_tokenizer", "tiny_config", "load"]

_TEXT = (
    "The mother tongue of Danielle Darrieux is French. The capital of France is Paris. "
    "Apple A5 was created by Apple. The Eiffel Tower is located in the city of Paris. "
    "Toko Yasuda plays the guitar. The official language of Spain is Spanish. "
    "Lionel Messi plays soccer for Barcelona. Berlin is the capital of Germany. "
    "Rome is in Italy, London is in England and Tokyo is in Japan. English is spoken in "
    "the United Kingdom, Canada, Australia and the United States of America. "
)


def tiny_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t.train_from_iterator([_TEXT] * 4, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=t, eos_token="<eos>", pad_token="<eos>")
    return tok


def tiny_config(model_type: str, vocab_size: int):
    import transformers as tf

    # a wide initialisation makes the random models' predictions peaked, as trained ones are
    common = dict(vocab_size=vocab_size, bos_token_id=0, eos_token_id=0, pad_token_id=0, initializer_range=0.3)
    if model_type == "gpt2":
        return tf.GPT2Config(n_layer=4, n_embd=64, n_head=4, n_positions=256, **common)
    if model_type == "gptj":
        return tf.GPTJConfig(n_layer=4, n_embd=64, n_head=4, rotary_dim=8, n_positions=256, **common)
    if model_type == "llama":
        return tf.LlamaConfig(num_hidden_layers=4, hidden_size=64, intermediate_size=96, num_attention_heads=4,
                              num_key_value_heads=2, max_position_embeddings=256, **common)
    if model_type == "gemma3":
        return tf.Gemma3TextConfig(num_hidden_layers=4, hidden_size=64, intermediate_size=96,
                                   num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                                   sliding_window=8, max_position_embeddings=256, **common)
    raise ValueError(f"no tiny config for {model_type!r}; choose from {TINY}")


def tiny_model(model_type: str = "llama", seed: int = 0, device="cpu"):
    """(model, tokenizer) of a tiny random ``model_type`` (one of :data:`TINY`)."""
    from transformers import AutoModelForCausalLM

    tok = tiny_tokenizer()
    cfg = tiny_config(model_type, len(tok))  # token 0 is <eos>, also used as bos and pad
    with seeded(seed):
        model = AutoModelForCausalLM.from_config(cfg)
    model.editlib_name = f"tiny-{model_type}"
    return model.to(device).eval(), tok


def load(model_type: str, dtype, placement: dict | None):
    """What :func:`~editlib.engine.model.loading.load_model` calls for ``tiny-<model_type>``."""
    model, tok = tiny_model(model_type)
    model = model.to(dtype)
    return (dispatch(model, **placement) if placement else model), tok
