"""The public entry point: ``Editor(model, tok, method="emmet", layers=[...])``.

    editor = Editor(model, tok, method="memit", preset="smollm2-135m", layers="spread")
    with editor.edited(requests) as result:      # weights restored bit-exactly on exit
        ...evaluate the edited model...

Every input is checked before templates, C0 or z are computed; ``apply()`` is
all-or-nothing; the original weights are kept per model (see :mod:`editlib.ledger`).
"""
from __future__ import annotations

import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace

import pandas as pd
import torch

from . import precision
from .config import atomic_save, cache_dir, check_cached_tensor, load_cached, stable_key
from .corpus import resolve_corpus
from .distribute import distribute
from .errors import EditRequestError, HyperparameterError
from .fingerprint import model_identity, shape_slug, tokenizer_fingerprint, weights_fingerprint
from .hparams import EditHparams, get_method, load_preset, preset_for_identity, split_overrides
from .keys import compute_keys, site_values, template_keys, template_mean
from .ledger import ledger
from .models import as_w, check_layers, check_vocabulary, check_resident, context_length, get_architecture, input_device
from .preserved import PreservedKeys
from .prompts import encode, target_ids
from .requests import EditRequest, as_requests, check_finite
from .stats import second_moments
from .templates import context_templates
from .values import KL_PROMPT, MEMORY_BUDGETS, ZSettings, z_groups


@dataclass
class EditResult:
    method: str
    layers: list[int]
    requests: list[EditRequest]
    deltas: dict[str, torch.Tensor]          # module name -> Δ (d_v × d_k), float64, CPU
    diagnostics: list[dict]                  # one per layer
    z: torch.Tensor                          # (B, d_v) target values
    z_info: dict
    timings: dict
    hparams: dict
    stats_info: dict = field(default_factory=dict)

    def diagnostics_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"method": self.method, **d} for d in self.diagnostics])


def _is_z_blob(b, d_v: int, key: str) -> bool:
    """A cached z: a finite float vector of the value site's width, written for this key."""
    return check_cached_tensor(b, "z", (d_v,), key) and isinstance(b.get("info"), dict)


class Editor:
    """Writes facts into ``model`` with one objective (``method``) on one or several layers.

    ``preset``: a preset name (see ``editlib.available_presets()``); by default the preset
    named like the loaded model, if any. ``layers``: a list, or "single"/"spread" to take
    the preset's. Any :class:`~editlib.hparams.EditHparams` or method-config field can be
    overridden by keyword.
    """

    def __init__(self, model, tok, method: str = "emmet", layers="single", preset: str | None = None,
                 use_cache: bool = True, progress: bool = True, **overrides):
        self.model, self.tok = model, tok
        self.arch = get_architecture(model)
        check_vocabulary(model, tok)
        self.method = get_method(method)
        hp_over, cfg_over = split_overrides(self.method, overrides)
        preset_name = preset or getattr(model, "editlib_name", None)
        self.preset = None
        if preset_name is not None:
            try:
                self.preset = load_preset(preset_name)
            except KeyError:
                if preset is not None:
                    raise
        if self.preset is None and preset is None:          # loaded under another name: match the shape
            self.preset = preset_for_identity(model_identity(model))
        if self.preset is not None:
            self.hparams = self.preset.edit_hparams(layers, method=self.method.name, **hp_over)
            self.config = self.preset.method_config(self.method.name, **cfg_over)
        else:
            if isinstance(layers, str):
                raise ValueError(f"no preset for this model, so layers={layers!r} means nothing: "
                                 "pass a list of layer indices")
            self.hparams = EditHparams(layers=list(layers), **{**self.method.conventions, **hp_over})
            self.config = self.method.config_cls(**cfg_over)
        self.hparams.layers = check_layers(model, self.hparams.layers)
        for name in ("compute_dtype", "mom2_dtype"):       # "auto" -> what pays on this hardware
            setattr(self.hparams, name, precision.resolve(getattr(self.hparams, name), input_device(model)))
        check_resident(model, self.arch, self.hparams.layers)
        self.arch = self._with_value_site(self.arch, self.hparams.value_site)
        resolve_corpus(self.hparams.mom2_dataset, model, tok, n_tokens=self.hparams.mom2_n_tokens)  # usable?
        self.use_cache, self.progress = use_cache, progress
        self.uid = f"{self.method.name}-editor-{uuid.uuid4().hex[:8]}"   # owner of its edits in the ledger
        self._templates: list[str] | None = None
        self._covs: dict[int, torch.Tensor] = {}
        self._prepared: dict = {}                     # per layer, what the method derives from C0 once
        self._preserved = PreservedKeys()             # the keys this Editor wrote and the model still holds
        self.stats_info: dict = {}

    @staticmethod
    def _with_value_site(arch, site):
        """The architecture with the value site the conventions ask for (z, δ and H live there)."""
        if site is None or site == arch.value_site:
            return arch
        if arch.value_site == "rewrite":
            raise HyperparameterError("value_site='block' is not linear in W for this architecture (a norm "
                                      "sits between the MLP and the residual stream): use 'rewrite'")
        return replace(arch, value_site=site)

    def __repr__(self) -> str:
        return f"Editor({self.uid}, layers={self.hparams.layers})"

    @property
    def n_preserved(self) -> int:
        """Facts written by this Editor that the model still holds."""
        self._sync()
        return len(self._preserved)

    def _sync(self) -> None:
        """Forget the edits of this Editor that were undone from outside (``editlib.restore``,
        another Editor's ``edited()`` block), with a warning: they are no longer in the
        model, so they are no longer preserved."""
        lost = self._preserved.sync(ledger(self.model).entries_of(self.uid))
        if lost:
            warnings.warn(f"{self!r}: {lost} of the facts it wrote were undone from outside (editlib.restore or "
                          "another Editor's edited() block); it no longer counts or preserves them", stacklevel=3)

    @property
    def has_live_edits(self) -> bool:
        """Whether weights this Editor wrote are still in the model (not restored)."""
        return bool(ledger(self.model).edited_by(self.uid))

    def check_requests(self, requests) -> list[EditRequest]:
        """Validate requests against this model and tokenizer, before anything expensive:
        the request fields (see :func:`~editlib.requests.as_requests`), that the subject
        can be found among the prompt's tokens, that the target encodes to tokens, and
        that the longest prompt the z optimisation builds fits the model's context."""
        requests = as_requests(requests)
        hp = self.hparams
        n_ctx = context_length(self.model)
        prefix = max([length for length, count in hp.context_template_lengths if count] or [0])
        prefix = prefix + 4 if prefix else 0        # the start word and ". " around the sampled tokens
        for r in requests:
            try:
                enc = encode(self.tok, "{}", r.prompt, r.subject, hp.fact_token)
                encode(self.tok, "{}", KL_PROMPT, r.subject, hp.fact_token)
                n_target = len(target_ids(self.tok, r.target_new))
            except ValueError as e:
                raise EditRequestError(f"{r.tag}: {e}") from None
            need = prefix + enc.n_prompt + n_target
            if n_ctx is not None and need > n_ctx:
                raise EditRequestError(f"{r.tag}: the prompt and target take {enc.n_prompt} + {n_target} tokens "
                                       f"(+ up to {prefix} of context template) but the model's context is "
                                       f"{n_ctx} tokens")
        return requests

    # ---------------------------------------------------------------- ingredients
    @property
    def templates(self) -> list[str]:
        if self._templates is None:
            self._templates = context_templates(self.model, self.tok, self.hparams.context_template_lengths,
                                                seed=self.hparams.template_seed, use_cache=self.use_cache)
        return self._templates

    def covariances(self) -> dict[int, torch.Tensor]:
        """C0 per edit layer, from the unedited model (computed before any edit)."""
        todo = [l for l in self.hparams.layers if l not in self._covs]
        if todo:
            if self.has_live_edits:
                raise RuntimeError("statistics must come from the model before this Editor's edits: "
                                   "restore() first")
            hp = self.hparams
            covs, self.stats_info = second_moments(
                self.model, self.tok, self.arch, todo, corpus=hp.mom2_dataset, n_tokens=hp.mom2_n_tokens,
                seq_len=hp.mom2_seq_len, compute_dtype=hp.mom2_dtype, use_cache=self.use_cache,
                progress=self.progress)
            self._covs.update(covs)
        return self._covs

    def targets(self, requests, layer: int | None = None) -> tuple[torch.Tensor, dict]:
        """Target values Z (B, d_v) at ``layer`` (default: the last edit layer), computed for
        all facts at once. Each fact's z is cached on disk, keyed by the content of the
        weights and tokenizer, the value site, the settings, templates and request (so
        single-edit experiments can compute every fact's z in one batch and then edit one
        fact at a time, and z on an edited model never mixes with the unedited model's)."""
        layer = self.hparams.layers[-1] if layer is None else check_layers(self.model, [layer])[0]
        return self._targets(self.check_requests(requests), layer)

    def _targets(self, requests: list[EditRequest], layer: int) -> tuple[torch.Tensor, dict]:
        """:meth:`targets` for requests already checked."""
        hp = self.hparams
        settings = {f.name: getattr(hp, f.name) for f in fields(ZSettings) if f.name not in MEMORY_BUDGETS}
        cacheable = self.use_cache
        paths = []
        if cacheable:
            model_key = dict(weights=weights_fingerprint(self.model), tokenizer=tokenizer_fingerprint(self.tok),
                             site=self.arch.name(self.arch.value_site, layer), s=settings, t=self.templates)
            root = cache_dir("z") / shape_slug(self.model)
            paths = [root / f"L{layer}-{stable_key(**model_key, r=[r.prompt, r.subject, r.target_new])}.pt"
                     for r in requests]
        z: list[torch.Tensor | None] = [None] * len(requests)
        per_fact: list[dict] = [{} for _ in requests]
        d_v = as_w(self.model.get_submodule(self.arch.name("rewrite", layer)).weight, self.arch).shape[0]
        for i, p in enumerate(paths):
            blob = load_cached(p, check=lambda b, key=p.stem: _is_z_blob(b, d_v, key))
            if blob is not None:
                z[i], per_fact[i] = blob["z"], {**blob["info"], "cached": True}
        todo = [i for i, v in enumerate(z) if v is None]
        if todo:          # group by group, each cached as soon as it is done
            for idx, z_new, z_info in z_groups(self.model, self.tok, self.arch, [requests[i] for i in todo], layer,
                                               self.templates, hp, progress=self.progress):
                for j, i in enumerate(todo[k] for k in idx):
                    z[i] = z_new[j].cpu()
                    per_fact[i] = {k: v[j] for k, v in z_info.items()}
                    if cacheable:
                        atomic_save({"z": z[i], "info": per_fact[i], "key": paths[i].stem}, paths[i])
                    per_fact[i]["cached"] = False
        info = {k: [f.get(k) for f in per_fact] for k in per_fact[0]}
        device = input_device(self.model)
        return torch.stack(z).to(device), info

    # ---------------------------------------------------------------- editing
    def apply(self, requests) -> EditResult:
        """Edit the model in place, all or nothing: if anything is raised (a singular
        system, NaN, ``KeyboardInterrupt``...), every weight written by this call is put
        back bit for bit before the exception propagates. Repeated calls accumulate
        (sequential editing); :meth:`restore` undoes them all."""
        requests = self.check_requests(requests)
        self._sync()
        if not self.method.batch and len(requests) > 1:
            raise ValueError(f"{self.method.name} writes one fact at a time, got {len(requests)}; "
                             "use method='emmet' or 'memit' for a batch, or apply one request at a time")
        hp, t = self.hparams, {}
        t0 = time.perf_counter()
        covs = self.covariances()
        templates = self.templates
        t["stats_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        last = hp.layers[-1]
        z, z_info = self._targets(requests, last)
        t["z_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        deltas = {}

        plain = {}

        def keys_at(layer):
            if not self.method.plain_key:
                return compute_keys(self.model, self.tok, self.arch, requests, [layer], templates, hp.fact_token,
                                    hp.key_average)[layer]
            per_template = template_keys(self.model, self.tok, self.arch, requests, [layer], templates,
                                         hp.fact_token)[layer]                      # (n_templates, B, d_k)
            plain[layer] = per_template[0].T.contiguous()                            # the prompt without prefix
            return template_mean(per_template, hp.key_average).T.contiguous()

        def values_at_last():
            return site_values(self.model, self.tok, self.arch, requests, last, hp.fact_token)

        written = {}

        def solve(layer, keys, resid):
            extra = (plain[layer],) if self.method.plain_key else ()
            resid = resid.to(keys.device)                   # under a device_map, the last layer may be elsewhere
            cov = covs[layer].to(keys.device)
            if self.method.prepare is not None and layer not in self._prepared:
                self._prepared[layer] = self.method.prepare(cov, self.config)
            preserved = self.preserved_gram(layer)
            delta, diag = self.method.solve(keys, resid, cov, self.config, *extra,
                                            preserved=None if preserved is None else preserved.to(keys.device),
                                            prepared=self._prepared.get(layer))
            check_finite(f"Δ at layer {layer}", delta)
            written[layer] = keys
            return delta, {**diag, "n_preserved": len(self._preserved)}

        with ledger(self.model).transaction(self.model, self.uid) as write:
            def apply(layer, delta):
                name = self.arch.name("rewrite", layer)
                write(name, lambda w: as_w(w, self.arch).add_(delta.to(w.dtype).to(w.device)))
                deltas[name] = delta.cpu()

            steps = distribute(hp.layers, z.T, keys_at, values_at_last, solve, apply, progress=self.progress)
        led = ledger(self.model)                            # only once the whole edit has landed
        self._preserved.add({led.top_entry(name) for name in deltas}, len(requests), written)
        t["solve_s"] = time.perf_counter() - t0
        t["total_s"] = sum(t.values())
        return EditResult(self.method.name, list(hp.layers), requests, deltas, [d for _, _, d in steps],
                          z.cpu(), z_info, t, {**asdict(hp), **asdict(self.config)}, dict(self.stats_info))

    def preserved_gram(self, layer: int) -> torch.Tensor | None:
        """K_p K_pᵀ (float64, CPU) of the keys this Editor has written at ``layer`` and not
        restored (None before any edit): what sequential objectives preserve."""
        self._sync()
        return self._preserved.gram(layer)

    def restore(self) -> list[str]:
        """Undo this Editor's live edits, bit for bit: each weight it wrote goes back to
        what it was before its first (still live) edit. Refuses with a
        :class:`~editlib.errors.RestoreOrderError`, changing nothing, when another Editor
        has since edited one of those weights and not restored (restore that one first,
        or use ``editlib.restore(model)`` to put back every original). Returns the names
        of the weights restored."""
        names = ledger(self.model).undo_owner(self.model, self.uid, label=repr(self))
        self._preserved.clear()
        return names

    @contextmanager
    def edited(self, requests):
        """``with editor.edited(requests) as result:`` — the edit holds inside the block;
        on exit the weights are exactly what they were on entry, including any edits
        other Editors made inside the block (undone with a warning)."""
        led = ledger(self.model)
        mark = led.checkpoint()
        kept = self._preserved.snapshot()
        try:
            yield self.apply(requests)
        finally:
            self._preserved.reset_to(kept)
            others = led.rollback(self.model, mark) - {self.uid}
            if others:
                warnings.warn(f"leaving {self!r}.edited(): also undid edits other Editors made inside the "
                              f"block ({', '.join(sorted(others))})", stacklevel=3)
