"""The preservation–memorization objectives and their closed forms.

Pure linear algebra on tensors, no model code. Shapes (the paper's notation):
    keys   K (d_k × B)   the rewrite module's inputs for the B facts
    resid  R (d_v × B)   what the layer must add to its outputs: R = Z − W0 K
    cov    C (d_k × d_k) the preserved keys' second moment C0 = K0 K0ᵀ / n
    delta  Δ (d_v × d_k) the update, Ŵ = W0 + Δ

Everything runs in float64 with linear solves, never explicit inverses. Each solver
returns ``(delta, diagnostics)``; diagnostics hold the preservation cost tr(Δ C Δᵀ),
the memorization residual ‖Δ K − R‖ (and relative to ‖R‖) and the condition number of
the matrix that was solved (1-norm estimate; for EMMET the inner B × B matrix).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...base.errors import SingularSystemError

# Above this condition number a system is treated as singular: its solution would be
# dominated by round-off (float64 keeps ~16 digits).
SINGULAR_COND = 1e13
C0, C0_HINT = "the covariance C0", "collect statistics over more tokens"


def _f64(*ts):
    return [t.detach().to(torch.float64) for t in ts]


def _check(keys, resid, cov):
    if keys.ndim != 2 or resid.ndim != 2 or cov.ndim != 2:
        raise ValueError("keys (d_k × B), resid (d_v × B) and cov (d_k × d_k) must be matrices")
    if keys.shape[1] != resid.shape[1]:
        raise ValueError(f"keys have {keys.shape[1]} columns but resid has {resid.shape[1]}")
    if cov.shape != (keys.shape[0], keys.shape[0]):
        raise ValueError(f"cov is {tuple(cov.shape)}, expected {(keys.shape[0],) * 2} to match keys")
    for name, t in (("keys", keys), ("resid", resid), ("cov", cov)):
        if not torch.isfinite(t).all():
            raise FloatingPointError(f"{name} holds NaN/inf values")


@dataclass(frozen=True)
class Factorized:
    """A symmetric positive definite matrix ready to be solved with again and again: its
    Cholesky factor, its condition number, and its diagonal (what a matrix handed in with
    it is checked against, so that a factor is never used for another matrix)."""

    factor: torch.Tensor
    cond: float
    diagonal: torch.Tensor


def factorized(a: torch.Tensor, what: str, hint: str) -> Factorized:
    """The Cholesky factor of the symmetric positive definite ``a`` (symmetrized first) and
    its condition number (LAPACK's 1-norm estimate from the factor, O(n²)); refuse when ``a``
    holds NaN/inf values, is not positive definite or is numerically singular."""
    from scipy.linalg import lapack

    if not torch.isfinite(a).all():
        raise FloatingPointError(f"{what} holds NaN/inf values")
    a = 0.5 * (a + a.T)
    factor, info = torch.linalg.cholesky_ex(a)
    if int(info) != 0:
        raise SingularSystemError(f"{what} is singular (not positive definite); {hint}")
    anorm = float(torch.linalg.matrix_norm(a, ord=1))
    rcond, _ = lapack.dpocon(factor.cpu().numpy(), anorm, uplo="L")
    cond = float("inf") if rcond <= 0 else 1.0 / rcond
    if not cond < SINGULAR_COND:
        raise SingularSystemError(f"{what} is singular (condition number {cond:.3g}); {hint}")
    return Factorized(factor, cond, a.diagonal().clone())


def _solve_spd(a: torch.Tensor, b: torch.Tensor, what: str, hint: str,
               factor: Factorized | None = None) -> tuple[torch.Tensor, float]:
    """Solve a X = b for symmetric positive definite a by Cholesky (:func:`factorized`, or
    ``factor``, a's factor computed before: the same X to the bit). Returns X and a's
    condition number."""
    if factor is None:
        factor = factorized(a, what, hint)
    elif factor.factor.shape != a.shape or not torch.equal(factor.diagonal.to(a.device), a.diagonal()):
        raise ValueError(f"the factor handed in for {what} is another matrix's (its diagonal differs)")
    return torch.cholesky_solve(b, factor.factor.to(b.device)), factor.cond


def diagnostics(delta, keys, resid, cov, cond: float) -> dict:
    delta, keys, resid, cov = _f64(delta, keys, resid, cov)
    miss = torch.linalg.norm(delta @ keys - resid)
    return {
        "preservation_cost": float(torch.trace(delta @ cov @ delta.T)),
        "memorization_residual": float(miss),
        "relative_residual": float(miss / torch.linalg.norm(resid).clamp(min=1e-300)),
        "update_norm": float(torch.linalg.norm(delta)),
        "condition_number": cond,
        "batch_size": int(keys.shape[1]),
    }


def rome(keys: torch.Tensor, resid: torch.Tensor, cov: torch.Tensor, factor: Factorized | None = None):
    """ROME: min ‖Ŵ K0 − W0 K0‖ s.t. Ŵ k = v (one fact).

        Δ = r (C⁻¹ k)ᵀ / (kᵀ C⁻¹ k)

    ``factor``: C's (:func:`factorized`), when one C serves many edits.
    """
    _check(keys, resid, cov)
    if keys.shape[1] != 1:
        raise ValueError(f"ROME writes one fact at a time, got {keys.shape[1]}; use emmet or memit "
                         "for a batch, or edit the facts one after another")
    k, r, c = _f64(keys, resid, cov)
    c_inv_k, cond = _solve_spd(c, k, C0, C0_HINT, factor)
    delta = r @ c_inv_k.T / (k.T @ c_inv_k)
    return delta, diagnostics(delta, k, r, c, cond)


def rome_original(keys: torch.Tensor, plain_keys: torch.Tensor, resid: torch.Tensor, cov: torch.Tensor,
                  factor: Factorized | None = None):
    """ROME as its authors wrote it (one fact): the direction comes from k* (the key
    averaged over the context templates), the constraint is met at k_plain (the key of
    the prompt without prefix):

        u = C⁻¹ k*,   Δ = r uᵀ / (uᵀ k_plain)   so that (W0 + Δ) k_plain = W0 k_plain + r

    With k_plain = k* this is :func:`rome`. Diagnostics: the residual is that of the
    constraint it meets (at k_plain, so ≈ 0); ``relative_residual_mean_key`` is the miss
    at k*, the key the unified objectives write. ``factor``: C's, as for :func:`rome`.
    """
    _check(keys, resid, cov)
    _check(plain_keys, resid, cov)
    if keys.shape[1] != 1:
        raise ValueError(f"ROME writes one fact at a time, got {keys.shape[1]}; use emmet or memit "
                         "for a batch, or edit the facts one after another")
    k, kp, r, c = _f64(keys, plain_keys, resid, cov)
    u, cond = _solve_spd(c, k, C0, C0_HINT, factor)                                     # C⁻¹ k*
    denom = float(u.T @ kp)
    if not abs(denom) > 1e-12 * float(torch.linalg.norm(u) * torch.linalg.norm(kp)):
        raise SingularSystemError("uᵀ k_plain = 0: the prompt's key is C0-orthogonal to the averaged key, "
                                  "so ROME's update is undefined")
    delta = r @ u.T / denom
    diag = diagnostics(delta, kp, r, c, cond)
    miss = torch.linalg.norm(delta @ k - r) / torch.linalg.norm(r).clamp(min=1e-300)
    return delta, {**diag, "relative_residual_mean_key": float(miss)}


def with_norm(cov: torch.Tensor, norm: float) -> torch.Tensor:
    """The preservation metric with ENCORE's Frobenius norm constraint λ_n‖Δ‖²_F = tr(Δ λ_n I Δᵀ):

        C + λ_n I

    ``norm`` (λ_n) 0: C unchanged. The term pulls every direction of Δ toward 0, the ones
    the preserved keys never take included."""
    if norm < 0:
        raise ValueError(f"the norm constraint's weight λ_n must be ≥ 0, got {norm}")
    if norm == 0:
        return cov
    c, = _f64(cov)
    return c + norm * torch.eye(c.shape[0], dtype=c.dtype, device=c.device)


def memit(keys: torch.Tensor, resid: torch.Tensor, cov: torch.Tensor, lam: float, norm: float = 0.0):
    """MEMIT: min λ‖Ŵ K0 − W0 K0‖² + ‖Ŵ K_E − V_E‖² (least squares, a batch); with ENCORE's
    norm constraint λ_n‖Ŵ − W0‖²_F added (λ_n = ``norm``):

        Δ = R K_Eᵀ (λ C0 + λ_n I + K_E K_Eᵀ)⁻¹

    The diagnostics' preservation cost is tr(Δ C0 Δᵀ), without the norm term.
    """
    _check(keys, resid, cov)
    if lam < 0:
        raise ValueError(f"λ must be ≥ 0, got {lam}")
    k, r, c = _f64(keys, resid, cov)
    a = with_norm(lam * c, norm) + k @ k.T                 # (d_k, d_k), symmetric
    x, cond = _solve_spd(a, k, "λ C0 + λ_n I + K Kᵀ", "raise λ (mom2_update_weight)")   # A⁻¹ K
    delta = r @ x.T                                        # R Kᵀ A⁻¹
    return delta, diagnostics(delta, k, r, c, cond)


def emmet_metric(cov: torch.Tensor, norm: float = 0.0) -> torch.Tensor:
    """EMMET's preservation metric M = C + λ_n I (float64): what :func:`emmet` solves with,
    and what a factor handed to it must be of."""
    c, = _f64(cov)
    return with_norm(c, norm)


def emmet(keys: torch.Tensor, resid: torch.Tensor, cov: torch.Tensor, mu: float = 0.0, norm: float = 0.0,
          factor: Factorized | None = None):
    """EMMET: min ‖Ŵ K0 − W0 K0‖ s.t. Ŵ K_E = V_E (equality, a batch).

        Δ = R (K_Eᵀ C0⁻¹ K_E + μ I)⁻¹ K_Eᵀ C0⁻¹

    μ = 0 meets every constraint exactly (K_E of full column rank); a small ridge μ > 0
    trades exactness for stability at large batches. For B = 1, μ = 0 this is ROME. With
    ENCORE's norm constraint, min ‖ΔK0‖² + λ_n‖Δ‖²_F under the same constraints, C0 becomes
    M = C0 + λ_n I in both places (λ_n = ``norm``; the preservation cost reported is still
    tr(Δ C0 Δᵀ)). ``factor``: M's (:func:`emmet_metric`, :func:`factorized`), when one M
    serves many edits.
    """
    _check(keys, resid, cov)
    if mu < 0:
        raise ValueError(f"μ must be ≥ 0, got {mu}")
    k, r, c = _f64(keys, resid, cov)
    m = emmet_metric(c, norm)
    c_inv_k, _ = _solve_spd(m, k, C0 + " + λ_n I" * (norm > 0), C0_HINT, factor)                 # M⁻¹ K
    inner = k.T @ c_inv_k + mu * torch.eye(k.shape[1], dtype=k.dtype, device=k.device)          # (B, B)
    hint = ("the edit keys are linearly dependent (rank "
            f"{int(torch.linalg.matrix_rank(k))} < batch {k.shape[1]}, e.g. repeated subjects); "
            "set a ridge μ > 0 (e.g. mu=0.1)") if mu == 0 else "raise μ"
    y, cond = _solve_spd(inner, c_inv_k.T, "Kᵀ C0⁻¹ K + μ I", hint)                           # (B, d_k)
    delta = r @ y
    return delta, diagnostics(delta, k, r, c, cond)


def with_preserved(cov: torch.Tensor, preserved: torch.Tensor | None, weight: float) -> torch.Tensor:
    """The preservation term with earlier edits kept (sequential editing):

        C = C0 + w · K_p K_pᵀ

    ``preserved`` is K_p K_pᵀ (d_k × d_k), the Gram matrix of the keys already written
    (kept as a running sum: its size does not grow with the number of edits). In MEMIT's
    objective λ‖ΔK0‖² + γ‖ΔK_p‖² + ‖ΔK_E − R‖², λC0 + γK_pK_pᵀ is this with C0 scaled by
    λ and w = γ; in EMMET's, the preserved keys join the minimised term. ``weight`` 0 or
    nothing preserved: C0 unchanged."""
    if preserved is None or weight == 0:
        return cov
    if weight < 0:
        raise ValueError(f"the weight of preserved edits must be ≥ 0, got {weight}")
    c, g = _f64(cov, preserved)
    if g.shape != c.shape:
        raise ValueError(f"the preserved keys' Gram matrix is {tuple(g.shape)}, C0 is {tuple(c.shape)}")
    return c + weight * g


def null_space_basis(cov: torch.Tensor, threshold: float = 2e-2, relative: bool = False):
    """AlphaEdit's null space of C0: with C0 = U S Uᵀ, the eigenvectors Û (d_k × r) whose
    eigenvalue is below ``threshold`` (× the largest eigenvalue when ``relative``).
    Returns (Û, their eigenvalues (r,), r). The projection is P = ÛÛᵀ."""
    c, = _f64(cov)
    evals, evecs = torch.linalg.eigh(0.5 * (c + c.T))
    cut = threshold * float(evals.max()) if relative else threshold
    keep = evals < cut
    if not keep.any():
        raise SingularSystemError(
            f"no eigenvalue of C0 is below the null-space threshold {cut:.3g} (the smallest is "
            f"{float(evals.min()):.3g}): the projection would be 0 and so would every AlphaEdit update; "
            "raise null_space_threshold")
    return evecs[:, keep].contiguous(), evals[keep], int(keep.sum())


def null_space_projection(cov: torch.Tensor, threshold: float = 2e-2, relative: bool = False):
    """P = ÛÛᵀ of :func:`null_space_basis`. Returns (P, rank of P)."""
    u, _, rank = null_space_basis(cov, threshold, relative)
    return u @ u.T, rank


def _projected_preserved(u, preserved, preserved_projected):
    """UᵀK_pK_pᵀU from the caller's d_k × d_k Gram, or as given (r × r); None when neither."""
    if preserved is not None and preserved_projected is not None:
        raise ValueError("give the preserved keys' Gram matrix once: preserved (d_k × d_k) or preserved_projected "
                         "(r × r, in the basis)")
    if preserved is not None:
        g, = _f64(preserved)
        if g.shape != (u.shape[0],) * 2:
            raise ValueError(f"preserved is {tuple(g.shape)}, expected {(u.shape[0],) * 2}")
        return u.T @ g.to(u.device) @ u
    if preserved_projected is not None:
        g, = _f64(preserved_projected)
        if g.shape != (u.shape[1],) * 2:
            raise ValueError(f"preserved_projected is {tuple(g.shape)}, expected {(u.shape[1],) * 2} (the basis has "
                             f"{u.shape[1]} columns)")
        return g.to(u.device)
    return None


def alphaedit(keys: torch.Tensor, resid: torch.Tensor, cov: torch.Tensor, basis: torch.Tensor,
              preserved: torch.Tensor | None = None, alpha: float = 10.0, norm: float = 0.0,
              preserved_projected: torch.Tensor | None = None):
    """AlphaEdit (Fang et al. 2025): the update lives in C0's null space, Δ = Δ̃ P with
    P = ÛÛᵀ (``basis`` Û, d_k × r, orthonormal columns: :func:`null_space_basis`), and
    minimises ‖Δ K_E − R‖² + ‖Δ K_p‖² + α‖Δ‖² there:

        Δ = R K_Eᵀ P ((K_E K_Eᵀ + K_p K_pᵀ) P + α I)⁻¹

    Since P(AP + αI)⁻¹ = (PAP + αI)⁻¹P and P = ÛÛᵀ, this is one r × r symmetric positive
    definite system with the B keys as right-hand side (Cholesky):

        Δ = R (Û Y)ᵀ,    Y = (ÛᵀAÛ + α I_r)⁻¹ ÛᵀK_E,    A = K_E K_Eᵀ + K_p K_pᵀ

    so Δ K0 ≈ 0 for every preserved key in the projected-out subspace, and no d_k × d_k
    product is formed. The earlier edits' Gram matrix comes as ``preserved`` (K_p K_pᵀ,
    d_k × d_k, projected here) or, cheaper, as ``preserved_projected`` (ÛᵀK_pK_pᵀÛ, r × r,
    kept by the caller). α‖Δ‖² is already a Frobenius norm constraint: ENCORE's
    λ_n‖Δ‖²_F (``norm``) adds to it, α → α + λ_n. ``cov`` (C0) serves the diagnostics, all
    through the B × B products of Δ = R Qᵀ (tr(ΔC0Δᵀ) = tr(QᵀC0Q RᵀR)); the condition number
    is that of the r × r system (1-norm estimate)."""
    _check(keys, resid, cov)
    if alpha < 0:
        raise ValueError(f"α must be ≥ 0, got {alpha}")
    if norm < 0:
        raise ValueError(f"the norm constraint's weight λ_n must be ≥ 0, got {norm}")
    alpha = alpha + norm
    k, r, c, u = _f64(keys, resid, cov, basis)
    if u.ndim != 2 or u.shape[0] != c.shape[0] or not 0 < u.shape[1] <= c.shape[0]:
        raise ValueError(f"the basis is {tuple(u.shape)}, expected d_k × r with d_k = {c.shape[0]}")
    g = _projected_preserved(u, preserved, preserved_projected)
    uk = u.T @ k                                                         # (r, B)
    m = uk @ uk.T if g is None else uk @ uk.T + g
    m.diagonal().add_(alpha)
    y, cond = _solve_spd(m, uk, "Ûᵀ(K Kᵀ + K_p K_pᵀ)Û + α I", "raise α")    # (r, B)
    q = u @ y                                                            # (d_k, B)
    delta = r @ q.T                                                      # (d_v, d_k), rank B
    rtr = r.T @ r
    miss = torch.linalg.norm(r @ (q.T @ k) - r)
    return delta, {"preservation_cost": float(torch.trace(q.T @ c @ q @ rtr)),
                   "preserved_edits_cost": 0.0 if g is None else float(torch.trace(y.T @ g @ y @ rtr)),
                   "memorization_residual": float(miss),
                   "relative_residual": float(miss / torch.linalg.norm(r).clamp(min=1e-300)),
                   "update_norm": float(torch.trace(y.T @ y @ rtr).clamp(min=0) ** 0.5),
                   "condition_number": cond, "batch_size": int(k.shape[1])}


def _lu_cond(a: torch.Tensor, lu: torch.Tensor, info) -> float:
    """1-norm condition number estimate of a from its LU factors (LAPACK dgecon)."""
    from scipy.linalg import lapack

    if int(info) != 0:
        return float("inf")
    rcond, _ = lapack.dgecon(lu.cpu().numpy(), float(torch.linalg.matrix_norm(a, ord=1)))
    return float("inf") if rcond <= 0 else 1.0 / rcond


def metric_weighted(metric: torch.Tensor, keys: torch.Tensor, what: str = "the preservation metric M",
                    factor: Factorized | None = None):
    """Q = M⁻¹ K (d_k × B) for a symmetric positive definite metric M (d_k × d_k), by
    Cholesky (``factor``: M's, computed before): the per-layer factor of :func:`joint`.
    Returns (Q, M's condition number)."""
    m, k = _f64(metric, keys)
    return _solve_spd(m, k, what, "collect statistics over more tokens, or raise the ridge", factor)


def projected_weighted(basis: torch.Tensor, keys: torch.Tensor, alpha: float,
                       preserved: torch.Tensor | None = None, preserved_projected: torch.Tensor | None = None):
    """Q = W K for AlphaEdit's metric on the null space P = ÛÛᵀ, W = P (P G P + α I)⁻¹ P with
    G = K_pK_pᵀ (the pseudo-inverse of G + αI restricted to P's range), in the basis:
    W = Û (ÛᵀGÛ + α I_r)⁻¹ Ûᵀ (G = 0: W = P/α). G comes as :func:`alphaedit` takes it:
    ``preserved`` (d_k × d_k) or ``preserved_projected`` (ÛᵀGÛ).
    Returns (Q, condition number of ÛᵀGÛ + α I)."""
    if not alpha > 0:
        raise SingularSystemError("AlphaEdit spread over layers needs α > 0: without the ridge its metric is "
                                  "0 on the null space and the joint solve has no unique answer")
    u, k = _f64(basis, keys)
    uk = u.T @ k
    g = _projected_preserved(u, preserved, preserved_projected)
    if g is None:
        return u @ uk / alpha, 1.0
    m = g + alpha * torch.eye(u.shape[1], dtype=u.dtype, device=u.device)
    x, cond = _solve_spd(m, uk, "ÛᵀK_pK_pᵀÛ + α I", "raise α")
    return u @ x, cond


def joint(weighted: list[torch.Tensor], written: list[torch.Tensor], resid: torch.Tensor, ridge: float = 0.0):
    """One solve over several layers (the preservation-optimal edit distribution).

    Each objective of the unified family, on L layers at once, is

        min Σ_l tr(Δ_l M_l Δ_lᵀ) + (1/ρ) ‖Σ_l Δ_l K_l − R‖²     (ρ = 0: s.t. Σ_l Δ_l K_l = R)

    with M_l the layer's preservation metric (λC0 + γK_pK_pᵀ for MEMIT and EMMET) and ρ the
    memorization tolerance (MEMIT 1, EMMET its ridge μ, ROME 0). Setting the gradient in
    Δ_l to 0 gives Δ_l = Λ K_lᵀ M_l⁻¹ for every layer with one Λ, and the constraint (or the
    residual's weight) fixes Λ:

        S = Σ_m K_mᵀ M_m⁻¹ K_m + ρ I   (B × B),    Δ_l = R S⁻¹ (M_l⁻¹ K_l)ᵀ

    ``weighted`` holds the Q_l = M_l⁻¹ K_l (d_k × B) per layer, ``written`` the keys at
    which each layer's update is counted in the sum (K_l; the prompt's own key for the
    original ROME). With one layer this is each objective's own closed form (Kᵀ(λC + KKᵀ)⁻¹
    = (KᵀC⁻¹K + λI)⁻¹KᵀC⁻¹). Returns ([Δ_l], diagnostics of the joint system: the
    condition number of S and the memorization residual of the sum)."""
    if len(weighted) != len(written) or not weighted:
        raise ValueError(f"one weighted key matrix per written one, got {len(weighted)} and {len(written)}")
    if ridge < 0:
        raise ValueError(f"the ridge ρ must be ≥ 0, got {ridge}")
    if resid.ndim != 2 or not torch.isfinite(resid).all():
        raise ValueError("resid must be a finite matrix (d_v × B)")
    for q, k in zip(weighted, written):
        if k.ndim != 2 or q.shape != k.shape or k.shape[1] != resid.shape[1]:
            raise ValueError(f"weighted keys {tuple(q.shape)} and written keys {tuple(k.shape)} must both be "
                             f"d_k × B with B = {resid.shape[1]} (resid's columns)")
        if not (torch.isfinite(q).all() and torch.isfinite(k).all()):
            raise FloatingPointError("keys hold NaN/inf values")
    r, = _f64(resid)
    qs = [q.to(r.device) for q in _f64(*weighted)]
    ks = [k.to(r.device) for k in _f64(*written)]
    s = sum(k.T @ q for k, q in zip(ks, qs)) + ridge * torch.eye(r.shape[1], dtype=r.dtype, device=r.device)
    hint = "the edit keys are linearly dependent across the layers; set a ridge (e.g. mu=0.1)"
    if _symmetric(s):
        lam_t, cond = _solve_spd(s, r.T, "Σ Kᵀ M⁻¹ K + ρ I", hint)     # S⁻¹ Rᵀ
    else:                                   # the original ROME's asymmetric keys: S is not symmetric
        lu, pivots, info = torch.linalg.lu_factor_ex(s.T)
        cond = _lu_cond(s.T, lu, info)
        if not cond < SINGULAR_COND:
            raise SingularSystemError(f"Σ Kᵀ M⁻¹ K is singular (condition number {cond:.3g}); {hint}")
        lam_t = torch.linalg.lu_solve(lu, pivots, r.T)           # S⁻ᵀ Rᵀ
    lam = lam_t.T                                                # Λ = R S⁻¹  (d_v × B)
    deltas = [lam @ q.T for q in qs]
    miss = torch.linalg.norm(sum(d @ k for d, k in zip(deltas, ks)) - r)
    return deltas, {"condition_number": cond, "memorization_residual": float(miss),
                    "relative_residual": float(miss / torch.linalg.norm(r).clamp(min=1e-300))}


def _symmetric(a: torch.Tensor) -> bool:
    return bool(torch.allclose(a, a.T, rtol=1e-12, atol=1e-12 * float(a.abs().max().clamp(min=1e-300))))
