"""Content fingerprints for cache keys: what a cached result was computed *from*.

A cache entry (context templates, C0, z) is keyed by the weights the computation reads,
the tokenizer, the resolved corpus and every setting that changes it, never by the name
the model was loaded under: the same weights loaded as an alias, a ``.gguf`` path or a
directory share entries, and an edited model never reads the unedited model's entries
(or the other way round).

Weights are fingerprinted from strided samples of every tensor (names, shapes, dtypes
and the sampled bytes), cheap enough to compute on every call. A change that touches
none of the sampled elements would go unnoticed; the rank-B updates editlib writes
change every element of the weight.
"""
from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

SAMPLES_PER_TENSOR = 4096


def _tensor_digest(h, name: str, t: torch.Tensor) -> None:
    flat = t.detach().reshape(-1)
    n = flat.numel()
    if n > SAMPLES_PER_TENSOR:
        stride = n // SAMPLES_PER_TENSOR
        idx = torch.arange(SAMPLES_PER_TENSOR, device=flat.device) * stride
        flat = torch.cat([flat[idx], flat[-1:]])                 # strided samples + the last element
    h.update(f"{name}:{tuple(t.shape)}:{t.dtype}:".encode())
    h.update(flat.contiguous().cpu().view(torch.uint8).numpy().tobytes())


def _block_index(name: str, block_template: str) -> int | None:
    """The layer a parameter belongs to ("model.layers.7.mlp..." -> 7), or None."""
    head, _, tail = block_template.partition("{}")
    if not name.startswith(head):
        return None
    digits = name[len(head):].split(".", 1)[0]
    return int(digits) if digits.isdigit() and name[len(head) + len(digits):].startswith(tail + ".") else None


def weights_fingerprint(model: nn.Module, upto_layer: int | None = None, arch=None) -> str:
    """A hash of the model's parameters and buffers. With ``upto_layer`` (and the
    model's :class:`~editlib.engine.model.architectures.Architecture`), blocks above that layer are left
    out: what a computation that stops at ``upto_layer`` reads (embeddings, blocks
    0..upto_layer, and the few tensors outside the blocks)."""
    h = hashlib.sha256()
    cfg = {k: v for k, v in model.config.to_dict().items()
           if not k.startswith("_") and k not in ("transformers_version", "dtype", "torch_dtype")}
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    for name, t in tensors:
        if upto_layer is not None:
            layer = _block_index(name, arch.block)
            if layer is not None and layer > upto_layer:
                continue
        _tensor_digest(h, name, _resident(model, name, t))
    return h.hexdigest()[:20]


def _resident(model: nn.Module, name: str, t: torch.Tensor) -> torch.Tensor:
    """The tensor's values: an offloaded one (on "meta" under a device_map) is read from
    the copy accelerate streams it in from, so a model hashes the same however placed."""
    if t.device.type != "meta":
        return t
    owner, _, attr = name.rpartition(".")
    weights = getattr(getattr(model.get_submodule(owner), "_hf_hook", None), "weights_map", None)
    if weights is None:
        raise ValueError(f"{name} is on the meta device with no offloaded copy: the model holds no values for it")
    return weights[attr]


def tokenizer_fingerprint(tok) -> str:
    """A hash of the tokenizer's full definition (vocabulary, merges, normaliser,
    special tokens), not of the padding and truncation its last call left set (a fast
    tokenizer keeps them in its definition until the next call): the same tokenizer gives the
    same key in every process, whatever it was last called with. Remembered on the tokenizer
    object while its size is unchanged."""
    size = len(tok)
    memo = getattr(tok, "_editlib_fingerprint", None)
    if memo is not None and memo[0] == size:
        return memo[1]
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None:             # without the last call's padding and truncation (set per call, not defined)
        definition = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("padding", "truncation")}
        blob = json.dumps(definition, sort_keys=True)
    else:
        blob = json.dumps(sorted(tok.get_vocab().items()))
    h = hashlib.sha256(blob.encode())
    h.update(json.dumps([type(tok).__name__, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id,
                         getattr(tok, "add_bos_token", None)], default=str).encode())
    fp = h.hexdigest()[:20]
    try:
        tok._editlib_fingerprint = (size, fp)
    except AttributeError:          # a tokenizer that refuses new attributes: recompute next time
        pass
    return fp


def shape_slug(model: nn.Module) -> str:
    """A readable folder name from the architecture's shape ("llama-30x576"): groups a
    model's cache entries; the content hash in each key is what identifies them."""
    from .architectures import num_layers

    cfg = model.config
    width = next((getattr(cfg, a) for a in ("hidden_size", "n_embd", "d_model") if getattr(cfg, a, None)), 0)
    return f"{cfg.model_type}-{num_layers(model)}x{width}"


def model_identity(model: nn.Module) -> str:
    """The architecture's shape and vocabulary ("llama-30x576-v49152"): what a preset is
    matched by when the model was loaded under a name no preset knows (a .gguf path, a
    local directory). Models of one shape share a preset's settings."""
    return f"{shape_slug(model)}-v{model.config.vocab_size}"

