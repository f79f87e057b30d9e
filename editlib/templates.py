"""Context templates: the plain prompt "{}" and short seeded prefixes the model writes
itself ("<text>. {}"), over which keys and target values are averaged (ROME, MEMIT)."""
from __future__ import annotations

import json

import torch

from .config import cache_dir, seeded, stable_key
from .models import model_fingerprint

PREFIX_STARTS = ("The", "Therefore", "Because", "I", "You")


def context_templates(model, tok, lengths: tuple[tuple[int, int], ...] = ((10, 5),), seed: int = 0,
                      use_cache: bool = True) -> list[str]:
    """``["{}"] + [prefix + ". {}" ...]``: for each ``(length, count)``, ``count`` prefixes
    of ``length`` sampled tokens (top-k 5, seeded), starting from common words."""
    key = stable_key(model=model_fingerprint(model), lengths=lengths, seed=seed)
    path = cache_dir("templates") / f"{model_fingerprint(model)}-{key}.json"
    if use_cache and path.exists():
        return json.loads(path.read_text())
    templates = ["{}"]
    device = next(model.parameters()).device
    with seeded(seed, device):
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
        path.write_text(json.dumps(templates))
    return templates
