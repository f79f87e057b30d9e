"""Context templates: the plain prompt "{}" and short seeded prefixes the model writes
itself ("<text>. {}"), over which keys and target values are averaged (ROME, MEMIT)."""
from __future__ import annotations

import torch

from ...base.cache import atomic_write_json, load_cached, stable_key
from ...base.paths import cache_dir
from ...base.seeding import seeded
from ..model.architectures import input_device, model_devices
from ..model.fingerprint import shape_slug, tokenizer_fingerprint, weights_fingerprint

PREFIX_STARTS = ("The", "Therefore", "Because", "I", "You")


def context_templates(model, tok, lengths: tuple[tuple[int, int], ...] = ((10, 5),), seed: int = 0,
                      use_cache: bool = True) -> list[str]:
    """``["{}"] + [prefix + ". {}" ...]``: for each ``(length, count)``, ``count`` prefixes
    of ``length`` sampled tokens (top-k 5, seeded), starting from common words. Cached
    under the model's and tokenizer's content (sampling differs by device, so the device
    type is part of the key)."""
    device = input_device(model)
    lengths = tuple(tuple(int(v) for v in pair) for pair in lengths)
    key = stable_key(weights=weights_fingerprint(model), tokenizer=tokenizer_fingerprint(tok), lengths=lengths,
                     seed=seed, starts=PREFIX_STARTS, top_k=5, device=device.type)
    path = cache_dir("templates") / f"{shape_slug(model)}-{key}.json"
    expected = 1 + sum(count for _, count in lengths)
    cached = load_cached(path, check=lambda t: isinstance(t, list) and len(t) == expected
                         and all(isinstance(x, str) and x.endswith("{}") for x in t)) if use_cache else None
    if cached is not None:
        return cached
    templates = ["{}"]
    with seeded(seed, model_devices(model)):
        for length, count in lengths:
            for i in range(count):
                start = PREFIX_STARTS[i % len(PREFIX_STARTS)]
                ids = tok(start, return_tensors="pt").input_ids.to(device)
                out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=length,
                                     min_new_tokens=length, do_sample=True, top_k=5,
                                     pad_token_id=tok.pad_token_id)
                text = tok.decode(out[0], skip_special_tokens=True)
                text = text.replace("{", " ").replace("}", " ").strip()
                templates.append(text + ". {}")
    if use_cache:
        atomic_write_json(templates, path)
    return templates
