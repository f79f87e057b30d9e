"""The public entry point: ``Editor(model, tok, method="emmet", layers=[...])``.

    editor = Editor(model, tok, method="memit", preset="smollm2-135m", layers="spread")
    with editor.edited(requests) as result:      # weights restored bit-exactly on exit
        ...evaluate the edited model...

Every input is checked before templates, C0 or z are computed; ``apply()`` is
all-or-nothing; the original weights are kept per model (see :mod:`editlib.engine.edit.ledger`).
"""
from __future__ import annotations

import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

import pandas as pd
import torch

from ...base import precision
from ...base.errors import EditRequestError, HyperparameterError
from ..algebra import solvers
from ..algebra.distribute import distribute
from ..algebra.preserved import PreservedKeys
from ..model.architectures import as_w, check_layers, check_resident, context_length, get_architecture, input_device
from ..model.loading import check_vocabulary
from ..model.prompts import encode, target_ids
from ..statistics.corpus import resolve_corpus
from ..statistics.covariance import second_moments
from ..targets.keys import compute_keys, site_values, template_keys, template_mean
from ..targets.requests import EditRequest, as_requests, check_finite
from ..targets.templates import context_templates
from ..targets.z_cache import cached_z
from ..targets.z_settings import KL_PROMPT
from .ledger import ledger
from .methods import get_method
from .presets import preset_for_model, resolve_settings


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


class Editor:
    """Writes facts into ``model`` with one objective (``method``) on one or several layers.

    ``preset``: a preset name (see ``editlib.available_presets()``); by default the preset
    named like the loaded model, if any. ``layers``: a list, or "single"/"spread" to take
    the preset's. Any :class:`~editlib.engine.edit.settings.EditHparams` or method-config field can be
    overridden by keyword.
    """

    def __init__(self, model, tok, method: str = "emmet", layers="single", preset: str | None = None,
                 use_cache: bool = True, progress: bool = True, **overrides):
        self.model, self.tok = model, tok
        self.arch = get_architecture(model)
        check_vocabulary(model, tok)
        self.method = get_method(method)
        self.preset = preset_for_model(model, preset)
        self.hparams, self.config = resolve_settings(self.preset, self.method, layers, overrides)
        self.hparams.layers = check_layers(model, self.hparams.layers)
        for name in ("compute_dtype", "mom2_dtype"):       # "auto" -> what pays on this hardware
            setattr(self.hparams, name, precision.resolve(getattr(self.hparams, name), input_device(model)))
        check_resident(model, self.arch, self.hparams.layers)
        self.arch = self._with_value_site(self.arch, self.hparams.value_site)
        self._check_distribution()
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

    def _check_distribution(self) -> None:
        """A rule that plans all layers' shares up front assumes their writes add where z
        lives. At the rewrite module's output (Gemma-3) they do not: a lower layer reaches the
        top layer's MLP output only through that MLP. Say so; the edit's ``value_miss`` shows
        how much of z was missed."""
        hp = self.hparams
        if len(hp.layers) > 1 and hp.distribution != "memit" and self.arch.value_site == "rewrite":
            warnings.warn(f"distribution={hp.distribution!r} over layers {hp.layers}: z lives at the rewrite "
                          "module's output here (value_site='rewrite'), where the layers' writes do not add, so the "
                          "planned shares miss much of z (see the diagnostics' value_miss); distribution='memit' "
                          "recomputes what remains at every layer", stacklevel=3)

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
        the request fields (see :func:`~editlib.engine.targets.requests.as_requests`), that the subject
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
        all facts at once and cached on disk per fact (:func:`~editlib.engine.targets.z_cache.cached_z`)."""
        layer = self.hparams.layers[-1] if layer is None else check_layers(self.model, [layer])[0]
        return self._targets(self.check_requests(requests), layer)

    def _targets(self, requests: list[EditRequest], layer: int) -> tuple[torch.Tensor, dict]:
        """:meth:`targets` for requests already checked."""
        return cached_z(self.model, self.tok, self.arch, requests, layer, self.templates, self.hparams,
                        use_cache=self.use_cache, progress=self.progress)

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
        self.templates                                      # (computed here, timed with the statistics)
        t["stats_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        z, z_info = self._targets(requests, hp.layers[-1])
        t["z_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ledger(self.model).transaction(self.model, self.uid) as write:
            edit = _EditPass(self, requests, covs, write)
            steps = distribute(hp.layers, z.T, edit, hp.distribution, hp.distribution_rounds, progress=self.progress)
        deltas = edit.deltas
        led = ledger(self.model)                            # only once the whole edit has landed
        self._preserved.add({led.top_entry(name) for name in deltas}, len(requests), edit.written)
        t["solve_s"] = time.perf_counter() - t0
        t["total_s"] = sum(t.values())
        return EditResult(self.method.name, list(hp.layers), requests, deltas, [d for _, _, d in steps],
                          z.cpu(), z_info, t, {**asdict(hp), **asdict(self.config)}, dict(self.stats_info))

    def preserved_gram(self, layer: int, basis: torch.Tensor | None = None) -> torch.Tensor | None:
        """K_p K_pᵀ (float64, CPU) of the keys this Editor has written at ``layer`` and not
        restored (None before any edit): what sequential objectives preserve. With ``basis``
        U (d_k × r): UᵀK_pK_pᵀU."""
        self._sync()
        return self._preserved.gram(layer, basis)

    def restore(self) -> list[str]:
        """Undo this Editor's live edits, bit for bit: each weight it wrote goes back to
        what it was before its first (still live) edit. Refuses with a
        :class:`~editlib.base.errors.RestoreOrderError`, changing nothing, when another Editor
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


class _EditPass:
    """One :meth:`Editor.apply`: the steps :func:`~editlib.engine.algebra.distribute.distribute`
    calls, layer by layer, and what they share (Δ per weight, the keys written per layer,
    the plain-prompt keys of methods that take them)."""

    def __init__(self, editor: Editor, requests: list[EditRequest], covs: dict[int, torch.Tensor], write):
        self.ed, self.requests, self.covs, self.write = editor, requests, covs, write
        self.deltas: dict[str, torch.Tensor] = {}          # module name -> Δ (CPU)
        self.written: dict[int, torch.Tensor] = {}         # layer -> K (d_k, B) written there
        self.plain: dict[int, torch.Tensor] = {}           # layer -> keys of the prompt without prefix

    def keys_at(self, layer: int) -> torch.Tensor:
        """K (d_k, B): each fact's key at ``layer``, averaged over the context templates."""
        ed, hp = self.ed, self.ed.hparams
        if not ed.method.plain_key:
            return compute_keys(ed.model, ed.tok, ed.arch, self.requests, [layer], ed.templates, hp.fact_token,
                                hp.key_average)[layer]
        per_template = template_keys(ed.model, ed.tok, ed.arch, self.requests, [layer], ed.templates,
                                     hp.fact_token)[layer]                      # (n_templates, B, d_k)
        self.plain[layer] = per_template[0].T.contiguous()                       # the prompt without prefix
        return template_mean(per_template, hp.key_average).T.contiguous()

    def values_at_last(self) -> torch.Tensor:
        """The value site's output at the last edit layer, as the model stands now."""
        ed = self.ed
        return site_values(ed.model, ed.tok, ed.arch, self.requests, ed.hparams.layers[-1], ed.hparams.fact_token)

    def _cov(self, layer: int, device) -> torch.Tensor:
        """C0 at ``layer`` on ``device``, with what the method derives from it once (AlphaEdit's P)."""
        ed = self.ed
        cov = self.covs[layer].to(device)
        if ed.method.prepare is not None and layer not in ed._prepared:
            ed._prepared[layer] = ed.method.prepare(cov, ed.config)
        return cov

    def _preserved_at(self, layer: int, device, basis=True):
        """Earlier edits' K_pK_pᵀ at ``layer``, or in the method's basis where it keeps them
        (``Method.preserved_basis``, with ``basis``)."""
        ed = self.ed
        u = None
        if basis and ed.method.preserved_basis is not None and layer in ed._prepared:
            u = ed.method.preserved_basis(ed._prepared[layer])
        preserved = ed.preserved_gram(layer, u)
        return None if preserved is None else preserved.to(device)

    def solve_layer(self, layer: int, keys: torch.Tensor, resid: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Δ at ``layer`` from the method's solver, with C0 and the preserved keys."""
        ed = self.ed
        extra = (self.plain[layer],) if ed.method.plain_key else ()
        resid = resid.to(keys.device)                   # under a device_map, the last layer may be elsewhere
        cov = self._cov(layer, keys.device)
        delta, diag = ed.method.solve(keys, resid, cov, ed.config, *extra,
                                      preserved=self._preserved_at(layer, keys.device),
                                      prepared=ed._prepared.get(layer))
        check_finite(f"Δ at layer {layer}", delta)
        self.written[layer] = keys
        return delta, {**diag, "n_preserved": len(ed._preserved)}

    def solve_joint(self, layers: list[int], keys: dict, resid: torch.Tensor) -> list[tuple[torch.Tensor, dict]]:
        """Δ_l at every layer from one joint solve of the method's objective
        (:func:`~editlib.engine.algebra.solvers.joint`)."""
        ed = self.ed
        if ed.method.weigh is None:
            raise HyperparameterError(f"{ed.method.name} has no joint form over layers: use distribution='memit' "
                                      "or 'uniform'")
        weighted, written, ridge, info = [], [], 0.0, {}
        for layer in layers:
            extra = (self.plain[layer],) if ed.method.plain_key else ()
            k = keys[layer]
            q, w, ridge, info = ed.method.weigh(k, self._cov(layer, k.device), ed.config, *extra,
                                                preserved=self._preserved_at(layer, k.device),
                                                prepared=ed._prepared.get(layer))
            weighted.append(q)
            written.append(w)
        deltas, joint = solvers.joint(weighted, written, resid, ridge)
        out = []
        for layer, delta in zip(layers, deltas):
            check_finite(f"Δ at layer {layer}", delta)
            self.written[layer] = keys[layer]
            out.append((delta, {**self.measure(layer, delta, keys[layer]), **joint, **info,
                                "n_preserved": len(ed._preserved)}))
        return out

    def measure(self, layer: int, delta: torch.Tensor, keys: torch.Tensor) -> dict:
        """Δ's cost against C0 at ``layer``, tr(ΔC0Δᵀ), and on the earlier edits' keys, ‖ΔK_p‖²."""
        d = delta.double()
        cov = self.covs[layer].to(d.device).double()
        preserved = self._preserved_at(layer, d.device, basis=False)
        return {"preservation_cost": float(torch.trace(d @ cov @ d.T)),
                "preserved_edits_cost": 0.0 if preserved is None else float(torch.trace(d @ preserved.double() @ d.T)),
                "update_norm": float(torch.linalg.norm(d)), "batch_size": int(keys.shape[1])}

    def write_layer(self, layer: int, delta: torch.Tensor) -> None:
        """W += Δ at ``layer``, through the ledger's transaction (undone if the edit fails);
        a layer written twice (rounds of a joint solve) keeps the sum."""
        arch = self.ed.arch
        name = arch.name("rewrite", layer)
        self.write(name, lambda w: as_w(w, arch).add_(delta.to(w.dtype).to(w.device)))
        self.deltas[name] = delta.cpu() if name not in self.deltas else self.deltas[name] + delta.cpu()
