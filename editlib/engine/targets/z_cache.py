"""Each fact's z cached on disk, keyed by what it depends on: single-edit experiments
compute every fact's z in one batch and then edit one fact at a time."""
from __future__ import annotations

from dataclasses import fields

import torch

from ...base.cache import atomic_save, check_cached_tensor, load_cached, stable_key
from ...base.paths import cache_dir
from ..model.architectures import Architecture, as_w, input_device
from ..model.fingerprint import shape_slug, tokenizer_fingerprint, weights_fingerprint
from .requests import EditRequest
from .values import z_groups
from .z_settings import KEYED_WHEN_SET, MEMORY_BUDGETS, ZSettings


def _is_z_blob(b, d_v: int, key: str) -> bool:
    """A cached z: a finite float vector of the value site's width, written for this key."""
    return check_cached_tensor(b, "z", (d_v,), key) and isinstance(b.get("info"), dict)


def cached_z(model, tok, arch: Architecture, requests: list[EditRequest], layer: int, templates: list[str],
             s: ZSettings, use_cache: bool = True, progress: bool = True) -> tuple[torch.Tensor, dict]:
    """:func:`compute_z` with each fact's z cached on disk (``<cache>/z/<shape>/L<layer>-<key>.pt``),
    keyed by the content of the weights and tokenizer, the value site, the settings that
    change z, the templates and the request: single-edit experiments compute every fact's
    z in one batch and then edit one fact at a time, and z on an edited model never mixes
    with the unedited model's. Returns (Z (B, d_v) on the model's input device, per-fact
    info with ``cached`` telling which came from disk)."""
    settings = {f.name: getattr(s, f.name) for f in fields(ZSettings) if f.name not in MEMORY_BUDGETS
                and not (f.name in KEYED_WHEN_SET and getattr(s, f.name) == KEYED_WHEN_SET[f.name])}
    paths = []
    if use_cache:
        model_key = dict(weights=weights_fingerprint(model), tokenizer=tokenizer_fingerprint(tok),
                         site=arch.name(arch.value_site, layer), s=settings, t=templates)
        root = cache_dir("z") / shape_slug(model)
        paths = [root / f"L{layer}-{stable_key(**model_key, r=[r.prompt, r.subject, r.target_new])}.pt"
                 for r in requests]
    z: list[torch.Tensor | None] = [None] * len(requests)
    per_fact: list[dict] = [{} for _ in requests]
    d_v = as_w(model.get_submodule(arch.name("rewrite", layer)).weight, arch).shape[0]
    for i, p in enumerate(paths):
        blob = load_cached(p, check=lambda b, key=p.stem: _is_z_blob(b, d_v, key))
        if blob is not None:
            z[i], per_fact[i] = blob["z"], {**blob["info"], "cached": True}
    todo = [i for i, v in enumerate(z) if v is None]
    if todo:          # group by group, each cached as soon as it is done
        for idx, z_new, z_info in z_groups(model, tok, arch, [requests[i] for i in todo], layer, templates, s,
                                           progress=progress):
            for j, i in enumerate(todo[k] for k in idx):
                z[i] = z_new[j].detach().to("cpu", copy=True)      # its own storage: a row view saves the whole batch
                per_fact[i] = {k: v[j] for k, v in z_info.items()}
                if use_cache:
                    atomic_save({"z": z[i], "info": per_fact[i], "key": paths[i].stem}, paths[i])
                per_fact[i]["cached"] = False
    info = {k: [f.get(k) for f in per_fact] for k in per_fact[0]}
    return torch.stack(z).to(input_device(model)), info
