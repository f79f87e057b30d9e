"""Architectures described by data, and where a model's weights are.

An :class:`Architecture` names, as module-path templates, the pieces model editing needs:
the transformer blocks, the *rewrite module* (the MLP output projection whose weight W the
solvers update; its input at a token is the key k, its output the value v = W k), the
final norm and the LM head. Nothing here looks at a model's name: the table is keyed by
``config.model_type`` and new architectures are added with :func:`register_architecture`.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import nn

from ...base.errors import HyperparameterError, UnknownArchitectureError


@dataclass(frozen=True)
class Architecture:
    """Module-name templates (``{}`` = layer index) for one ``model_type``."""

    block: str                  # a transformer block, e.g. "model.layers.{}"
    rewrite: str                # the MLP output projection, e.g. "model.layers.{}.mlp.down_proj"
    final_norm: str             # norm before the LM head
    lm_head: str                # the unembedding
    transposed: bool = False    # weight stored (d_k, d_v), as GPT-2's Conv1D does
    # Where the target value z lives and δ is added: "block" = the block's output (the
    # residual stream, as MEMIT does), "rewrite" = the rewrite module's output. The two
    # coincide where the MLP output is added straight to the residual stream; they differ
    # where a norm sits in between (Gemma-3's post-feed-forward norm), and then only the
    # rewrite module's own output space is linear in W.
    value_site: str = "block"

    def name(self, which: str, layer: int) -> str:
        return getattr(self, which).format(layer)


ARCHITECTURES: dict[str, Architecture] = {
    "gpt2": Architecture("transformer.h.{}", "transformer.h.{}.mlp.c_proj",
                         "transformer.ln_f", "lm_head", transposed=True),
    "gptj": Architecture("transformer.h.{}", "transformer.h.{}.mlp.fc_out",
                         "transformer.ln_f", "lm_head"),
    "gpt_neox": Architecture("gpt_neox.layers.{}", "gpt_neox.layers.{}.mlp.dense_4h_to_h",
                             "gpt_neox.final_layer_norm", "embed_out"),
    "llama": Architecture("model.layers.{}", "model.layers.{}.mlp.down_proj", "model.norm", "lm_head"),
    "mistral": Architecture("model.layers.{}", "model.layers.{}.mlp.down_proj", "model.norm", "lm_head"),
    "qwen2": Architecture("model.layers.{}", "model.layers.{}.mlp.down_proj", "model.norm", "lm_head"),
    "gemma3_text": Architecture("model.layers.{}", "model.layers.{}.mlp.down_proj", "model.norm",
                                "lm_head", value_site="rewrite"),
}
ARCHITECTURES["gemma3"] = ARCHITECTURES["gemma3_text"]


def register_architecture(model_type: str, arch: Architecture) -> None:
    """Teach editlib a new ``config.model_type``."""
    ARCHITECTURES[model_type] = arch


def get_architecture(model: nn.Module) -> Architecture:
    model_type = getattr(model.config, "model_type", None)
    if model_type not in ARCHITECTURES:
        raise UnknownArchitectureError(
            f"unknown architecture model_type={model_type!r}; known: {sorted(ARCHITECTURES)}. "
            "Register it with editlib.register_architecture(model_type, Architecture(block=..., "
            "rewrite=..., final_norm=..., lm_head=..., transposed=...)).")
    return ARCHITECTURES[model_type]


def num_layers(model: nn.Module) -> int:
    cfg = model.config
    for attr in ("num_hidden_layers", "n_layer", "num_layers"):
        if getattr(cfg, attr, None) is not None:
            return int(getattr(cfg, attr))
    raise ValueError(f"cannot tell how many layers {type(model).__name__} has")


def context_length(model: nn.Module) -> int | None:
    """The most positions the model takes (None when its config does not say)."""
    for attr in ("max_position_embeddings", "n_positions", "n_ctx"):
        v = getattr(model.config, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def _layer_index(layer) -> int:
    if isinstance(layer, bool):
        raise HyperparameterError(f"layer {layer!r} is not an integer layer index")
    try:
        return operator.index(layer)
    except TypeError:
        raise HyperparameterError(f"layer {layer!r} is not an integer layer index "
                                  f"(got {type(layer).__name__})") from None


def check_layers(model: nn.Module, layers) -> list[int]:
    """Validate and sort layer indices against the model's depth."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise HyperparameterError(f"layers must be a list of layer indices, not {layers!r}")
    layers = sorted(_layer_index(layer) for layer in layers)
    n = num_layers(model)
    if not layers:
        raise HyperparameterError("no edit layers given")
    bad = [layer for layer in layers if not 0 <= layer < n]
    if bad:
        raise HyperparameterError(f"layer(s) {bad} out of range: the model has {n} layers (0..{n - 1})")
    if len(set(layers)) != len(layers):
        raise HyperparameterError(f"repeated layer in {layers}")
    return layers


def input_device(model: nn.Module) -> torch.device:
    """Where input ids go: the token embedding's device (under a ``device_map``, the
    first block's side; the other blocks receive their inputs through accelerate's hooks)."""
    return model.get_input_embeddings().weight.device


def model_devices(model: nn.Module) -> list[torch.device]:
    """The devices the model's weights are held on (one, or several under a device_map)."""
    return list(dict.fromkeys(p.device for p in model.parameters() if p.device.type != "meta")) or [input_device(model)]


def check_resident(model: nn.Module, arch: Architecture, layers: list[int]) -> None:
    """Refuse rewrite weights that are not held in memory. Under a ``device_map`` that
    offloads (to "disk", or to "cpu" beside GPUs), accelerate keeps a module's weights
    on the meta device and streams them in for each forward: an in-place update of W
    would change nothing (meta tensors hold no values), a silent non-edit."""
    for layer in layers:
        name = arch.name("rewrite", layer)
        w = model.get_submodule(name).weight
        if w.device.type == "meta":
            where = getattr(model, "hf_device_map", {}) or {}
            placed = next((d for m, d in sorted(where.items(), key=lambda kv: -len(kv[0]))
                           if name == m or name.startswith(m + ".")), "offloaded")
            raise HyperparameterError(
                f"layer {layer}: {name} is offloaded by the device_map (placed on {placed!r}; its weight is on "
                "the meta device and streamed in per forward), so it cannot be edited in place. Keep the edit "
                "layers resident: give a device_map or max_memory that puts them on a GPU (or, without GPUs, "
                "on 'cpu'); other layers may stay offloaded")


def as_w(weight: torch.Tensor, arch: Architecture) -> torch.Tensor:
    """The weight as the paper's W (d_v × d_k), whatever the storage orientation."""
    return weight.T if arch.transposed else weight
