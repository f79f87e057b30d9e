"""Covariance statistics: C0 = E[k kᵀ], the uncentred second moment of the rewrite
module's input over generic text, for each edit layer.

One pass collects every requested layer:

- the corpus is tokenised once, in batches of documents, and cut into windows of
  ``seq_len`` tokens (the windows, not the batching, define the statistic);
- windows are sorted by length and batched under a token budget (``batch_tokens``, sized
  for the device), so a batch pads at most to its own longest window;
- the forward stops after the deepest edit layer's rewrite module, optionally with
  lower-precision matmuls (``compute_dtype``, see :mod:`editlib.base.precision`);
- each batch's kᵀk is a float32 product (autocast and TF32 off), accumulated in float64 on
  the model's device and brought to the CPU once at the end.

Results are cached on disk, keyed by what determines them: the weights the pass reads
(embeddings and blocks up to the layer), the tokenizer, the resolved corpus (its content
hash, or the model and seed it was sampled with), the token count, window and dtype. The
batching only reorders a sum, so it is not part of the key.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ...base import precision
from ...base.cache import atomic_save, check_cached_tensor, file_safe, load_cached, stable_key
from ...base.paths import cache_dir
from ..model.architectures import Architecture, as_w, input_device
from ..model.fingerprint import shape_slug, tokenizer_fingerprint, weights_fingerprint
from ..model.hooks import StopForward, hooks
from ..model.prompts import pad, pad_id
from .corpus import Corpus, corpus_documents, length_batches, resolve_corpus, token_windows

DEFAULT_BATCH_TOKENS = {"cpu": 2048, "cuda": 16384}


def _cache_path(model, tok, arch, layer, corpus: Corpus, n_tokens, seq_len, dtype):
    key = stable_key(weights=weights_fingerprint(model, upto_layer=layer, arch=arch),
                     tokenizer=tokenizer_fingerprint(tok), module=arch.name("rewrite", layer),
                     corpus=corpus.identity, n=n_tokens, seq=seq_len, dtype=str(dtype))
    label = file_safe(corpus.source if corpus.source != "file" else corpus.path.stem)   # "hf:org/name" too
    return cache_dir("stats") / shape_slug(model) / f"L{layer}-{label}-{n_tokens}tok-{key}.pt"


def _is_blob(d, d_k: int, key: str) -> bool:
    """A cached Σ k kᵀ: a finite d_k × d_k float matrix over a positive token count,
    written for this key."""
    check_cached_tensor(d, "mom2", (d_k, d_k), key)
    if not isinstance(d.get("count"), int) or d["count"] <= 0 or "corpus" not in d:
        raise ValueError(f"token count {d.get('count')!r} is not a positive integer")
    return True


def second_moments(model, tok, arch: Architecture, layers: list[int], corpus: str = "auto",
                   n_tokens: int = 50_000, seq_len: int = 128, batch_tokens: int | None = None,
                   compute_dtype: str | None = None, seed: int = 0, use_cache: bool = True,
                   progress: bool = True) -> tuple[dict[int, torch.Tensor], dict]:
    """{layer: C0 (d_k × d_k) float64 on CPU}, and info (corpus, tokens, cache hits)."""
    resolved = resolve_corpus(corpus, model, tok, seed=seed, n_tokens=n_tokens)
    paths = {l: _cache_path(model, tok, arch, l, resolved, n_tokens, seq_len, compute_dtype) for l in layers}
    out, info = {}, {"corpus": corpus, "n_tokens": n_tokens, "seq_len": seq_len, "cached_layers": [],
                     "corpus_used": resolved.description, "corpus_identity": resolved.identity}
    for layer, p in paths.items():
        d_k = as_w(model.get_submodule(arch.name("rewrite", layer)).weight, arch).shape[1]
        blob = load_cached(p, check=lambda d, d_k=d_k, key=p.stem: _is_blob(d, d_k, key)) if use_cache else None
        if blob is not None:
            out[layer] = blob["mom2"] / blob["count"]
            info.update(tokens_used=blob["count"])
            info["cached_layers"].append(layer)
    todo = [l for l in layers if l not in out]
    if not todo:
        return out, info
    docs = corpus_documents(resolved, model, tok, seed=seed, n_tokens=n_tokens)
    windows = token_windows(tok, docs, n_tokens, seq_len)
    count = sum(map(len, windows))
    if count == 0:
        raise ValueError(f"the corpus ({resolved.description}) gave no windows of ≥ 8 tokens: "
                         "nothing to estimate C0 from")
    device = input_device(model)
    batch_tokens = batch_tokens or DEFAULT_BATCH_TOKENS.get(device.type, 2048)
    acc = moment_pass(model, tok, arch, todo, windows, batch_tokens, compute_dtype, progress)
    for l in todo:
        blob = {"mom2": acc[l], "count": count, "corpus": resolved.description, "corpus_identity": resolved.identity,
                "key": paths[l].stem}
        if use_cache:
            atomic_save(blob, paths[l])
        out[l] = acc[l] / count
    info.update(corpus_used=resolved.description, tokens_used=count, batch_tokens=batch_tokens)
    return out, info


def moment_pass(model, tok, arch: Architecture, layers: list[int], windows: list[list[int]],
                batch_tokens: int, compute_dtype: str | None = None, progress: bool = True) -> dict[int, torch.Tensor]:
    """{layer: Σ k kᵀ over every token of ``windows``} (float64, CPU): one forward per
    batch, stopped after the deepest layer's rewrite module."""
    device = input_device(model)
    acc: dict[int, torch.Tensor] = {}
    mask_now = {}
    deepest = max(layers)

    def accumulate(layer):
        def hook(module, args, output):
            with precision.exact(device):
                k = args[0][mask_now["m"].to(args[0].device)].float()                       # (tokens, d_k)
                g = (k.T @ k).double()
            acc[layer] = g if layer not in acc else acc[layer].add_(g)
            if layer == deepest:
                raise StopForward
        return hook

    handles = [model.get_submodule(arch.name("rewrite", l)).register_forward_hook(accumulate(l)) for l in layers]
    bar = tqdm(total=sum(map(len, windows)), desc=f"C0 for layers {layers}", unit="tok",
               disable=not progress, leave=False)
    with hooks(*handles), torch.no_grad(), precision.compute(device, compute_dtype):
        for batch in length_batches(windows, batch_tokens):
            ids, mask = pad([windows[i] for i in batch], pad_id(tok), device)
            mask_now["m"] = mask.bool()
            try:
                model(input_ids=ids, attention_mask=mask, use_cache=False)
            except StopForward:
                pass
            bar.update(int(mask.sum()))
    bar.close()
    return {l: g.cpu() for l, g in acc.items()}
