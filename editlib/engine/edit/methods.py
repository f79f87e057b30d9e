"""The registry of editing methods: one typed config per objective, and adapters from the
pipeline's (keys, residuals, C0) to the solvers of :mod:`editlib.engine.algebra.solvers`."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch

from ...base import checks
from ...base.errors import HyperparameterError, UnknownNameError, UnknownSettingError
from ..algebra import solvers
from .settings import EditHparams


@dataclass
class RomeConfig:
    """ROME has no hyperparameter of its own: the constraint is exact, one fact."""


@dataclass
class MemitConfig:
    mom2_update_weight: float = 15000.0   # λ, weight of the preservation term
    preserve_edits: float = 0.0           # γ, weight of the keys of earlier edits (sequential; 0 = off)
    norm_constraint: float = 0.0          # λ_n, ENCORE's Frobenius norm constraint λ_n‖Δ‖² (0 = off)

    def __post_init__(self):
        checks.number("mom2_update_weight (MEMIT's λ)", self.mom2_update_weight, low=0)
        checks.number("preserve_edits (weight of earlier edits' keys)", self.preserve_edits, low=0)
        checks.number("norm_constraint (ENCORE's λ_n)", self.norm_constraint, low=0)


@dataclass
class EncoreConfig(MemitConfig):
    """ENCORE (Gupta et al. 2025) = MEMIT's objective with earlier edits' keys kept (γ = 1) and
    the norm constraint λ_n, Δ = R Kᵀ(λC0 + λ_n I + K_pK_pᵀ + KKᵀ)⁻¹, on z found with
    most-probable early stopping (the method's conventions). A preset's "encore" section
    sets λ and λ_n."""
    preserve_edits: float = 1.0
    norm_constraint: float = 10.0


@dataclass
class EmmetConfig:
    mu: float = 0.1                        # ridge on Kᵀ C⁻¹ K (0 = the exact first version)
    mom2_update_weight: float = 10000.0    # C0 is scaled by this first: effective ridge λ·μ
    ridge_single_edits: bool = False       # the authors add μ only when B > 1
    preserve_edits: float = 0.0            # γ, weight of the keys of earlier edits (sequential; 0 = off)
    norm_constraint: float = 0.0           # λ_n, ENCORE's Frobenius norm constraint λ_n‖Δ‖² (0 = off)

    def __post_init__(self):
        checks.number("mu (EMMET's ridge)", self.mu, low=0)
        checks.number("preserve_edits (weight of earlier edits' keys)", self.preserve_edits, low=0)
        checks.number("norm_constraint (ENCORE's λ_n)", self.norm_constraint, low=0)
        checks.number("mom2_update_weight (EMMET's scale of C0)", self.mom2_update_weight, low=0, strict=True)
        if not isinstance(self.ridge_single_edits, bool):
            raise HyperparameterError(f"ridge_single_edits must be True or False, got {self.ridge_single_edits!r}")


@dataclass
class AlphaEditConfig:
    alpha: float = 10.0                    # α, the ridge on ‖Δ‖² (the authors' L2)
    null_space_threshold: float = 2e-2     # eigenvalues of C0 below this span the null space
    relative_threshold: bool = False       # threshold × C0's largest eigenvalue instead
    norm_constraint: float = 0.0           # λ_n, ENCORE's norm constraint: adds to α (α‖Δ‖² is one already)

    def __post_init__(self):
        checks.number("alpha (AlphaEdit's ridge)", self.alpha, low=0)
        checks.number("norm_constraint (ENCORE's λ_n)", self.norm_constraint, low=0)
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
    # (prepared) -> a basis U (d_k × r): the Editor passes earlier edits' keys as UᵀK_pK_pᵀU, not K_pK_pᵀ
    preserved_basis: Callable | None = None
    # (keys, cov, config[, plain_keys], preserved=..., prepared=...) -> (Q = M⁻¹K, written keys, ρ, info):
    # the method's term of the joint solve over several layers (solvers.joint)
    weigh: Callable | None = None
    # EditHparams values the method implies, above the preset's and below a preset's own
    # section for the method and the caller's keywords
    conventions: dict = field(default_factory=dict)


# What the equality objectives derive from C0 once per layer: the Cholesky factor of the
# metric every single edit solves with (C0 for ROME; λC0 + λ_n I for EMMET without earlier
# edits), so that a run of many edits factorizes it once. The solves are the same to the bit.
def _c0_factor(cov, cfg: RomeConfig) -> solvers.Factorized:
    return solvers.factorized(cov.detach().to(torch.float64), solvers.C0, solvers.C0_HINT)


def _emmet_factor(cov, cfg: EmmetConfig) -> solvers.Factorized:
    metric = solvers.emmet_metric(_metric(cov, cfg)[0], cfg.norm_constraint)
    return solvers.factorized(metric, solvers.C0, solvers.C0_HINT)


def _rome(keys, resid, cov, cfg: RomeConfig, preserved=None, prepared=None):
    return solvers.rome(keys, resid, cov, factor=prepared)


def _rome_original(keys, resid, cov, cfg: RomeConfig, plain_keys, preserved=None, prepared=None):
    return solvers.rome_original(keys, plain_keys, resid, cov, factor=prepared)


# ROME's own code (rome/ of ROME and of the unified repo; its gpt2-xl and gpt-j-6b files):
# δ at the MLP output, clamp 4 × its norm, keys averaged uniformly over "{}" + 10 prefixes of
# 5 tokens + 10 of 10 tokens, 20 steps.
ROME_ORIGINAL = {"value_site": "rewrite", "key_average": "uniform", "clamp_norm_factor": 4.0,
                 "context_template_lengths": ((5, 10), (10, 10)), "v_num_grad_steps": 20}


# ENCORE's z: most-probable early stopping, cutoff 2 (their cutoffs: 2-4); the loss stop and the step cap stay.
ENCORE_Z = {"z_stop": "most_probable", "z_stop_count": 2}


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


def _metric(cov, cfg: MemitConfig | EmmetConfig, preserved=None):
    """The preservation metric λC0 + γK_pK_pᵀ (γ = 0 without earlier edits) and γ. The norm
    constraint's λ_n I is the solvers' (``norm``), kept out of the cost they report."""
    gamma = cfg.preserve_edits if preserved is not None else 0.0
    return solvers.with_preserved(cfg.mom2_update_weight * cov, preserved, gamma), gamma


def _emmet_mu(keys, cfg: EmmetConfig) -> float:
    """EMMET's ridge μ: on batches, and on single edits only when asked (there EMMET is ROME)."""
    return cfg.mu if (keys.shape[1] > 1 or cfg.ridge_single_edits) else 0.0


def _memit(keys, resid, cov, cfg: MemitConfig, preserved=None, prepared=None):
    if preserved is None or cfg.preserve_edits == 0:
        delta, diag = solvers.memit(keys, resid, cov, cfg.mom2_update_weight, cfg.norm_constraint)
        return delta, _split_preservation(diag, delta, preserved)
    c, _ = _metric(cov, cfg, preserved)
    delta, diag = solvers.memit(keys, resid, c, 1.0, cfg.norm_constraint)
    return delta, _split_preservation(diag, delta, preserved, cfg.mom2_update_weight, cfg.preserve_edits, cov)


def _emmet(keys, resid, cov, cfg: EmmetConfig, preserved=None, prepared=None):
    mu = _emmet_mu(keys, cfg)
    c, gamma = _metric(cov, cfg, preserved)
    factor = prepared if gamma == 0 else None           # earlier edits kept: the metric is no longer C0's
    delta, diag = solvers.emmet(keys, resid, c, mu, cfg.norm_constraint, factor=factor)
    return delta, {**_split_preservation(diag, delta, preserved, cfg.mom2_update_weight, gamma), "mu": mu}


@dataclass(frozen=True)
class NullSpace:
    """What AlphaEdit derives from C0 once per layer: the basis Û (d_k × r) of its null space
    and r. Earlier edits' keys are kept in this basis (ÛᵀK_pK_pᵀÛ)."""
    basis: torch.Tensor
    rank: int


def _null_space(cov, cfg: AlphaEditConfig) -> NullSpace:
    basis, _, rank = solvers.null_space_basis(cov, cfg.null_space_threshold, cfg.relative_threshold)
    if rank == cov.shape[0]:            # P = I: the projection keeps every direction, so it preserves nothing
        warnings.warn(f"AlphaEdit: every eigenvalue of C0 is below null_space_threshold={cfg.null_space_threshold:g}"
                      f"{' (relative)' if cfg.relative_threshold else ''}, so the projection is the identity and "
                      "nothing is preserved (the update is the ridge solution); lower the threshold", stacklevel=4)
    return NullSpace(basis, rank)


def _in_basis(cov, cfg: AlphaEditConfig, preserved, prepared) -> tuple[NullSpace, dict]:
    """The null space and the preserved keys as the solvers take them: with ``prepared``, the
    Editor passes ÛᵀK_pK_pᵀÛ (the method's ``preserved_basis``); without, ``preserved`` is
    K_pK_pᵀ and is projected here."""
    if prepared is not None:
        return prepared, {"preserved_projected": preserved}
    return _null_space(cov, cfg), {"preserved": preserved}


def _alphaedit(keys, resid, cov, cfg: AlphaEditConfig, preserved=None, prepared=None):
    space, kept = _in_basis(cov, cfg, preserved, prepared)
    delta, diag = solvers.alphaedit(keys, resid, cov, space.basis.to(keys.device), alpha=cfg.alpha,
                                    norm=cfg.norm_constraint, **kept)
    return delta, {**diag, "projection_rank": space.rank, "null_space_threshold": cfg.null_space_threshold,
                   "relative_threshold": cfg.relative_threshold}


# The objectives as terms of the joint solve over layers (solvers.joint): the metric M of the
# preservation term and the memorization tolerance ρ. Each reduces, on one layer, to the solver above.
def _rome_weigh(keys, cov, cfg: RomeConfig, preserved=None, prepared=None):
    q, _ = solvers.metric_weighted(cov, keys, solvers.C0, factor=prepared)
    return q, keys, 0.0, {}


def _rome_original_weigh(keys, cov, cfg: RomeConfig, plain_keys, preserved=None, prepared=None):
    q, _ = solvers.metric_weighted(cov, keys, solvers.C0, factor=prepared)     # u = C⁻¹ k*, met at k_plain
    return q, plain_keys, 0.0, {}


def _weighted(keys, cov, cfg: MemitConfig | EmmetConfig, preserved=None, factor=None):
    """M⁻¹K for the metric M = λC0 + γK_pK_pᵀ + λ_n I (``factor``: M's, without earlier edits)."""
    c, gamma = _metric(cov, cfg, preserved)
    m = solvers.emmet_metric(c, cfg.norm_constraint)
    return solvers.metric_weighted(m, keys, "λ C0 + γ K_pK_pᵀ + λ_n I", factor if gamma == 0 else None)[0]


def _memit_weigh(keys, cov, cfg: MemitConfig, preserved=None, prepared=None):
    return _weighted(keys, cov, cfg, preserved), keys, 1.0, {}


def _emmet_weigh(keys, cov, cfg: EmmetConfig, preserved=None, prepared=None):
    mu = _emmet_mu(keys, cfg)
    return _weighted(keys, cov, cfg, preserved, prepared), keys, mu, {"mu": mu}


def _alphaedit_weigh(keys, cov, cfg: AlphaEditConfig, preserved=None, prepared=None):
    space, kept = _in_basis(cov, cfg, preserved, prepared)
    q, _ = solvers.projected_weighted(space.basis.to(keys.device), keys, cfg.alpha + cfg.norm_constraint, **kept)
    return q, keys, 1.0, {"projection_rank": space.rank, "null_space_threshold": cfg.null_space_threshold,
                          "relative_threshold": cfg.relative_threshold}


METHODS: dict[str, Method] = {
    "rome": Method("rome", RomeConfig, _rome, batch=False, prepare=_c0_factor, weigh=_rome_weigh),
    "rome_original": Method("rome_original", RomeConfig, _rome_original, batch=False, plain_key=True,
                            prepare=_c0_factor, conventions=ROME_ORIGINAL, weigh=_rome_original_weigh),
    "memit": Method("memit", MemitConfig, _memit, weigh=_memit_weigh),
    "emmet": Method("emmet", EmmetConfig, _emmet, prepare=_emmet_factor, weigh=_emmet_weigh),
    "encore": Method("encore", EncoreConfig, _memit, weigh=_memit_weigh, conventions=ENCORE_Z),
    "alphaedit": Method("alphaedit", AlphaEditConfig, _alphaedit, prepare=_null_space, weigh=_alphaedit_weigh,
                        preserved_basis=lambda space: space.basis),
}


def register_method(method: Method) -> None:
    METHODS[method.name] = method


def get_method(name: str) -> Method:
    if not isinstance(name, str) or name.lower() not in METHODS:
        raise UnknownNameError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name.lower()]


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
