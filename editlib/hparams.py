"""Typed hyperparameters: the edit pipeline's (:class:`EditHparams`), one config per
objective, a registry from method name to solver + config, and presets loaded from JSON."""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from typing import Callable

import torch

from . import checks, solvers
from .errors import HyperparameterError
from .keys import KEY_AVERAGES
from .values import ZSettings


@dataclass
class EditHparams(ZSettings):
    """Everything but the objective. Fields of :class:`~editlib.values.ZSettings` (target
    values) plus where to edit and how to collect statistics."""

    layers: list[int] = field(default_factory=list)       # edit layers, ascending
    context_template_lengths: tuple = ((10, 5),)          # (tokens, count) of generated prefixes
    template_seed: int = 0                                # seed of the prefix sampling
    mom2_dataset: str = "auto"                            # corpus for C0 (see editlib.corpus)
    mom2_n_tokens: int = 50_000                           # tokens of that corpus
    mom2_seq_len: int = 128                               # window length when collecting C0
    mom2_dtype: str | None = None                         # autocast dtype for C0's forward passes
    # Conventions (see the methods' ``conventions``): where z lives and δ is added (None:
    # the architecture's), and how keys are averaged over the context templates.
    value_site: str | None = None                         # None, "block" or "rewrite"
    key_average: str = "half_plain"                       # ½ plain + ½ prefixed, or "uniform"

    def __post_init__(self):
        super().__post_init__()
        checks.choice("value_site", self.value_site, (None, "block", "rewrite"))
        checks.choice("key_average", self.key_average, KEY_AVERAGES)
        if isinstance(self.layers, (str, bytes)) or not hasattr(self.layers, "__iter__"):
            raise HyperparameterError(f"layers must be a list of layer indices, not {self.layers!r}")
        try:
            pairs = [tuple(p) for p in self.context_template_lengths]
        except TypeError:
            pairs = [()]
        if not all(len(p) == 2 for p in pairs):
            raise HyperparameterError("context_template_lengths must be (tokens, count) pairs, got "
                                      f"{self.context_template_lengths!r}")
        for length, count in pairs:
            checks.number("context_template_lengths: tokens", length, low=1, integer=True)
            checks.number("context_template_lengths: count", count, low=0, integer=True)
        checks.number("template_seed", self.template_seed, integer=True)
        if not isinstance(self.mom2_dataset, str) or not self.mom2_dataset:
            raise HyperparameterError(f"mom2_dataset must be a corpus name or path, not {self.mom2_dataset!r}")
        checks.number("mom2_n_tokens", self.mom2_n_tokens, low=1, integer=True)
        checks.number("mom2_seq_len", self.mom2_seq_len, low=8, integer=True)   # shorter windows are skipped
        checks.dtype_name("mom2_dtype", self.mom2_dtype)


@dataclass
class RomeConfig:
    """ROME has no hyperparameter of its own: the constraint is exact, one fact."""


@dataclass
class MemitConfig:
    mom2_update_weight: float = 15000.0   # λ, weight of the preservation term
    preserve_edits: float = 0.0           # γ, weight of the keys of earlier edits (sequential; 0 = off)

    def __post_init__(self):
        checks.number("mom2_update_weight (MEMIT's λ)", self.mom2_update_weight, low=0)
        checks.number("preserve_edits (weight of earlier edits' keys)", self.preserve_edits, low=0)


@dataclass
class EmmetConfig:
    mu: float = 0.1                        # ridge on Kᵀ C⁻¹ K (0 = the exact first version)
    mom2_update_weight: float = 10000.0    # C0 is scaled by this first: effective ridge λ·μ
    ridge_single_edits: bool = False       # the authors add μ only when B > 1
    preserve_edits: float = 0.0            # γ, weight of the keys of earlier edits (sequential; 0 = off)

    def __post_init__(self):
        checks.number("mu (EMMET's ridge)", self.mu, low=0)
        checks.number("preserve_edits (weight of earlier edits' keys)", self.preserve_edits, low=0)
        checks.number("mom2_update_weight (EMMET's scale of C0)", self.mom2_update_weight, low=0, strict=True)
        if not isinstance(self.ridge_single_edits, bool):
            raise HyperparameterError(f"ridge_single_edits must be True or False, got {self.ridge_single_edits!r}")


@dataclass
class AlphaEditConfig:
    alpha: float = 10.0                    # α, the ridge on ‖Δ‖² (the authors' L2)
    null_space_threshold: float = 2e-2     # eigenvalues of C0 below this span the null space
    relative_threshold: bool = False       # threshold × C0's largest eigenvalue instead

    def __post_init__(self):
        checks.number("alpha (AlphaEdit's ridge)", self.alpha, low=0)
        checks.number("null_space_threshold", self.null_space_threshold, low=0, strict=True)
        if not isinstance(self.relative_threshold, bool):
            raise HyperparameterError(f"relative_threshold must be True or False, got {self.relative_threshold!r}")


@dataclass(frozen=True)
class Method:
    name: str
    config_cls: type
    # (keys, resid, cov, config[, plain_keys], preserved=K_pK_pᵀ or None, prepared=...) -> (delta, diagnostics)
    solve: Callable
    batch: bool = True         # accepts B > 1
    plain_key: bool = False    # the solver also takes the key of the prompt without prefix
    prepare: Callable | None = None   # (C0, config) -> what solve needs per layer, computed once
    # EditHparams values the method implies, above the preset's and below a preset's own
    # section for the method and the caller's keywords
    conventions: dict = field(default_factory=dict)


def _rome(keys, resid, cov, cfg: RomeConfig, preserved=None, prepared=None):
    return solvers.rome(keys, resid, cov)


def _rome_original(keys, resid, cov, cfg: RomeConfig, plain_keys, preserved=None, prepared=None):
    return solvers.rome_original(keys, plain_keys, resid, cov)


# ROME's own code (rome/ of ROME and of the unified repo; its gpt2-xl and gpt-j-6b files):
# δ at the MLP output, clamp 4 × its norm, keys averaged uniformly over "{}" + 10 prefixes of
# 5 tokens + 10 of 10 tokens, 20 steps.
ROME_ORIGINAL = {"value_site": "rewrite", "key_average": "uniform", "clamp_norm_factor": 4.0,
                 "context_template_lengths": ((5, 10), (10, 10)), "v_num_grad_steps": 20}


def _split_preservation(diag: dict, delta, preserved, lam: float = 1.0, gamma: float = 0.0, cov=None) -> dict:
    """The solver reported tr(Δ C Δᵀ) for the C it solved with, C = λC0 + γ K_pK_pᵀ: report
    the cost against C0 itself, tr(ΔC0Δᵀ) = (tr(ΔCΔᵀ) − γ‖ΔK_p‖²)/λ (computed from ``cov``
    when λ = 0), and ‖ΔK_p‖² (the cost on earlier edits' keys; 0 before any)."""
    d = delta.double()
    kept = float(torch.trace(d @ preserved.to(d.device).double() @ d.T)) if preserved is not None else 0.0
    if lam:
        diag["preservation_cost"] = (diag["preservation_cost"] - gamma * kept) / lam
    else:
        diag["preservation_cost"] = float(torch.trace(d @ cov.to(d.device).double() @ d.T))
    diag["preserved_edits_cost"] = kept
    return diag


def _memit(keys, resid, cov, cfg: MemitConfig, preserved=None, prepared=None):
    if preserved is None or cfg.preserve_edits == 0:
        delta, diag = solvers.memit(keys, resid, cov, cfg.mom2_update_weight)
        return delta, _split_preservation(diag, delta, preserved)
    c = solvers.with_preserved(cfg.mom2_update_weight * cov, preserved, cfg.preserve_edits)   # λC0 + γK_pK_pᵀ
    delta, diag = solvers.memit(keys, resid, c, 1.0)
    return delta, _split_preservation(diag, delta, preserved, cfg.mom2_update_weight, cfg.preserve_edits, cov)


def _emmet(keys, resid, cov, cfg: EmmetConfig, preserved=None, prepared=None):
    mu = cfg.mu if (keys.shape[1] > 1 or cfg.ridge_single_edits) else 0.0
    gamma = cfg.preserve_edits if preserved is not None else 0.0
    c = solvers.with_preserved(cfg.mom2_update_weight * cov, preserved, gamma)
    delta, diag = solvers.emmet(keys, resid, c, mu)
    return delta, {**_split_preservation(diag, delta, preserved, cfg.mom2_update_weight, gamma), "mu": mu}


def _null_space(cov, cfg: AlphaEditConfig):
    projection, rank = solvers.null_space_projection(cov, cfg.null_space_threshold, cfg.relative_threshold)
    if rank == cov.shape[0]:            # P = I: the projection keeps every direction, so it preserves nothing
        warnings.warn(f"AlphaEdit: every eigenvalue of C0 is below null_space_threshold={cfg.null_space_threshold:g}"
                      f"{' (relative)' if cfg.relative_threshold else ''}, so the projection is the identity and "
                      "nothing is preserved (the update is the ridge solution); lower the threshold", stacklevel=4)
    return projection, rank


def _alphaedit(keys, resid, cov, cfg: AlphaEditConfig, preserved=None, prepared=None):
    projection, rank = prepared if prepared is not None else _null_space(cov, cfg)
    delta, diag = solvers.alphaedit(keys, resid, cov, projection.to(keys.device), preserved, cfg.alpha)
    return delta, {**_split_preservation(diag, delta, preserved), "projection_rank": rank,
                   "null_space_threshold": cfg.null_space_threshold, "relative_threshold": cfg.relative_threshold}


METHODS: dict[str, Method] = {
    "rome": Method("rome", RomeConfig, _rome, batch=False),
    "rome_original": Method("rome_original", RomeConfig, _rome_original, batch=False, plain_key=True,
                            conventions=ROME_ORIGINAL),
    "memit": Method("memit", MemitConfig, _memit),
    "emmet": Method("emmet", EmmetConfig, _emmet),
    "alphaedit": Method("alphaedit", AlphaEditConfig, _alphaedit, prepare=_null_space),
}


def register_method(method: Method) -> None:
    METHODS[method.name] = method


class UnknownNameError(HyperparameterError, KeyError):
    """An unknown method or preset name."""

    def __str__(self) -> str:
        return self.args[0]


def get_method(name: str) -> Method:
    if not isinstance(name, str) or name.lower() not in METHODS:
        raise UnknownNameError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name.lower()]


class UnknownSettingError(HyperparameterError, TypeError):
    """A keyword that is no setting of the pipeline or of the method."""


def split_overrides(method: Method, overrides: dict):
    """Route keyword overrides to EditHparams or the method's config; reject unknown ones."""
    hp_names = {f.name for f in fields(EditHparams)}
    cfg_names = {f.name for f in fields(method.config_cls)}
    unknown = set(overrides) - hp_names - cfg_names
    if unknown:
        raise UnknownSettingError(f"unknown hyperparameter(s) {sorted(unknown)} for method {method.name!r}; "
                        f"edit settings: {sorted(hp_names)}; {method.name} settings: {sorted(cfg_names)}")
    return ({k: v for k, v in overrides.items() if k in hp_names},
            {k: v for k, v in overrides.items() if k in cfg_names})


# ------------------------------------------------------------------------- presets

@dataclass
class Preset:
    """A model's published or measured settings (``editlib/presets/<name>.json``)."""

    name: str
    model: str                                  # what load_model takes
    aliases: list[str]
    identity: str                               # fingerprint.model_identity of the model it is for
    d_k: int                                    # key width: inputs of the rewritten matrix (MLP inner size)
    layers_single: list[int]
    layers_spread: list[int]
    hparams: dict
    methods: dict                               # {method: {field: value}}
    source: str

    def edit_hparams(self, layers: str | list[int] = "single", method: str | None = None,
                     **overrides) -> EditHparams:
        """The pipeline's settings: the preset's, then (with ``method``) the method's
        conventions and the preset's section for it, then ``overrides``."""
        if isinstance(layers, str):
            if layers not in ("single", "spread"):
                raise HyperparameterError(f"layers must be 'single', 'spread' or a list, not {layers!r}")
            layers = self.layers_single if layers == "single" else self.layers_spread
        implied = {}
        if method is not None:
            m = get_method(method)
            implied = {**m.conventions, **split_overrides(m, self.methods.get(m.name, {}))[0]}
        return replace(EditHparams(**{**self.hparams, **implied}), layers=list(layers), **overrides)

    def method_config(self, method: str, **overrides):
        m = get_method(method)
        return m.config_cls(**{**split_overrides(m, self.methods.get(m.name, {}))[1], **overrides})


def _validate_preset(d: dict, where: str) -> Preset:
    required = {f.name for f in fields(Preset)}
    missing = required - set(d)
    if missing:
        raise ValueError(f"preset {where}: missing {sorted(missing)}")
    extra = set(d) - required
    if extra:
        raise ValueError(f"preset {where}: unknown keys {sorted(extra)}")
    p = Preset(**d)
    EditHparams(**p.hparams)                    # unknown hparam names raise TypeError here
    for m, section in p.methods.items():
        hp, cfg = split_overrides(get_method(m), section)
        get_method(m).config_cls(**cfg)
        EditHparams(**{**p.hparams, **hp})
    if p.layers_single != sorted(p.layers_single) or p.layers_spread != sorted(p.layers_spread):
        raise ValueError(f"preset {where}: layers must be ascending")
    return p


def available_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("editlib.presets").iterdir() if p.name.endswith(".json"))


def load_preset(name: str) -> Preset:
    """A preset by its name or one of its aliases (exact, case-insensitive)."""
    if not isinstance(name, str):
        raise UnknownNameError(f"a preset is named by a string, not {name!r}")
    for fname in available_presets():
        d = json.loads(resources.files("editlib.presets").joinpath(fname + ".json").read_text())
        if name.lower() in [a.lower() for a in [d.get("name"), d.get("model"), *d.get("aliases", [])]]:
            return _validate_preset(d, fname)
    raise UnknownNameError(f"no preset for {name!r}; available: {available_presets()}")


def preset_for_identity(identity: str) -> Preset | None:
    """The preset whose model has this shape and vocabulary, if any."""
    for fname in available_presets():
        d = json.loads(resources.files("editlib.presets").joinpath(fname + ".json").read_text())
        if d.get("identity") == identity:
            return _validate_preset(d, fname)
    return None


def hparams_dict(hp: EditHparams, cfg) -> dict:
    return {**asdict(hp), **asdict(cfg)}
