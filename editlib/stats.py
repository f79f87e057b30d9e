"""Covariance statistics: C0 = E[k kᵀ], the uncentred second moment of the rewrite
module's input over generic text, for each edit layer.

One pass collects every requested layer, stopping the forward after the deepest one.
Results are cached on disk, keyed by what determines them: the weights the pass reads
(embeddings and blocks up to the layer), the tokenizer, the resolved corpus (its content
hash, or the model and seed it was sampled with), the token count, window, batch and dtype.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
from tqdm.auto import tqdm

from .config import atomic_save, cache_dir, file_safe, load_cached, stable_key
from .corpus import Corpus, corpus_documents, resolve_corpus
from .fingerprint import shape_slug, tokenizer_fingerprint, weights_fingerprint
from .hooks import StopForward, hooks
from .models import Architecture
from .prompts import pad, pad_id


def _windows(tok, docs, n_tokens: int, seq_len: int):
    """Token windows of ≤ seq_len from the documents until n_tokens are collected."""
    got = 0
    for doc in docs:
        ids = tok(doc)["input_ids"]
        for i in range(0, len(ids), seq_len):
            w = ids[i:i + seq_len]
            if len(w) < 8:
                continue
            w = w[: n_tokens - got]
            yield w
            got += len(w)
            if got >= n_tokens:
                return


def _cache_path(model, tok, arch, layer, corpus: Corpus, n_tokens, seq_len, batch_size, dtype):
    key = stable_key(weights=weights_fingerprint(model, upto_layer=layer, arch=arch),
                     tokenizer=tokenizer_fingerprint(tok), module=arch.name("rewrite", layer),
                     corpus=corpus.identity, n=n_tokens, seq=seq_len, batch=batch_size, dtype=str(dtype))
    label = file_safe(corpus.source if corpus.source != "file" else corpus.path.stem)   # "hf:org/name" too
    return cache_dir("stats") / shape_slug(model) / f"L{layer}-{label}-{n_tokens}tok-{key}.pt"


def _is_blob(d) -> bool:
    return isinstance(d, dict) and {"mom2", "count", "corpus"} <= set(d) and torch.is_tensor(d["mom2"])


def second_moments(model, tok, arch: Architecture, layers: list[int], corpus: str = "auto",
                   n_tokens: int = 50_000, seq_len: int = 128, batch_size: int = 16,
                   compute_dtype: str | None = None, seed: int = 0, use_cache: bool = True,
                   progress: bool = True) -> tuple[dict[int, torch.Tensor], dict]:
    """{layer: C0 (d_k × d_k) float64 on CPU}, and info (corpus, tokens, cache hits)."""
    resolved = resolve_corpus(corpus, model, tok, seed=seed, n_tokens=n_tokens)
    paths = {l: _cache_path(model, tok, arch, l, resolved, n_tokens, seq_len, batch_size, compute_dtype)
             for l in layers}
    out, info = {}, {"corpus": corpus, "n_tokens": n_tokens, "seq_len": seq_len, "cached_layers": [],
                     "corpus_used": resolved.description, "corpus_identity": resolved.identity}
    for layer, p in paths.items():
        blob = load_cached(p, check=_is_blob) if use_cache else None
        if blob is not None:
            out[layer] = blob["mom2"] / blob["count"]
            info.update(tokens_used=blob["count"])
            info["cached_layers"].append(layer)
    todo = [l for l in layers if l not in out]
    if not todo:
        return out, info
    docs = corpus_documents(resolved, model, tok, seed=seed, n_tokens=n_tokens)
    desc = resolved.description
    device = next(model.parameters()).device
    names = {l: arch.name("rewrite", l) for l in todo}
    mods = {l: model.get_submodule(n) for l, n in names.items()}
    acc = {l: None for l in todo}
    count = 0
    mask_now = {}

    def accumulate(layer, last):
        def hook(module, args, output):
            x = args[0]
            k = x[mask_now["m"]].float()                       # (n_tokens, d_k)
            g = (k.T @ k).double().cpu()
            acc[layer] = g if acc[layer] is None else acc[layer] + g
            if last:
                raise StopForward
        return hook

    deepest = max(todo)
    autocast = (torch.autocast(device.type, dtype=getattr(torch, compute_dtype))
                if compute_dtype else nullcontext())
    windows = list(_windows(tok, docs, n_tokens, seq_len))
    bar = tqdm(total=sum(map(len, windows)), desc=f"C0 for layers {todo}", unit="tok",
               disable=not progress, leave=False)
    handles = [m.register_forward_hook(accumulate(l, l == deepest)) for l, m in mods.items()]
    with hooks(*handles), torch.no_grad(), autocast:
        for i in range(0, len(windows), batch_size):
            ids, mask = pad(windows[i:i + batch_size], pad_id(tok), device)
            mask_now["m"] = mask.bool()
            try:
                model(input_ids=ids, attention_mask=mask, use_cache=False)
            except StopForward:
                pass
            n = int(mask.sum())
            count += n
            bar.update(n)
    bar.close()
    if count == 0:
        raise ValueError(f"the corpus ({desc}) gave no windows of ≥ 8 tokens: nothing to estimate C0 from")
    for l in todo:
        blob = {"mom2": acc[l], "count": count, "corpus": desc, "corpus_identity": resolved.identity}
        if use_cache:
            atomic_save(blob, paths[l])
        out[l] = acc[l] / count
    info.update(corpus_used=desc, tokens_used=count)
    return out, info
