"""ENCORE's Frobenius norm constraint λ_n‖Δ‖²_F as a term of each objective, and the encore
method: closed forms against their defining identities, on random matrices."""
import pytest
import torch

from editlib.base.errors import HyperparameterError
from editlib.engine.algebra import solvers
from editlib.engine.edit.methods import EmmetConfig, EncoreConfig, MemitConfig, get_method
from editlib.engine.edit.presets import resolve_settings

D_K, D_V = 30, 11


def problem(batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    k0 = torch.randn(D_K, 300, generator=g, dtype=torch.float64)
    keys = torch.randn(D_K, batch, generator=g, dtype=torch.float64)
    resid = torch.randn(D_V, batch, generator=g, dtype=torch.float64)
    return keys, resid, k0 @ k0.T / 300


EYE = torch.eye(D_K, dtype=torch.float64)


def memit_objective(delta, k, r, c, lam, norm):
    return (lam * torch.trace(delta @ c @ delta.T) + norm * torch.linalg.norm(delta) ** 2
            + torch.linalg.norm(delta @ k - r) ** 2)


def test_memit_with_the_norm_term_matches_its_closed_form_and_minimises_its_objective():
    k, r, c = problem(6)
    lam, norm = 3.0, 0.7
    delta, diag = solvers.memit(k, r, c, lam, norm)
    torch.testing.assert_close(delta, r @ k.T @ torch.linalg.inv(lam * c + norm * EYE + k @ k.T))
    # stationarity: the objective's gradient 2Δ(λC0 + λ_n I + KKᵀ) − 2RKᵀ vanishes
    torch.testing.assert_close(delta @ (lam * c + norm * EYE + k @ k.T), r @ k.T)
    best = memit_objective(delta, k, r, c, lam, norm)
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        other = delta + 1e-2 * torch.randn(D_V, D_K, generator=g, dtype=torch.float64)
        assert memit_objective(other, k, r, c, lam, norm) > best
    # the reported preservation cost is C0's alone, without the norm term
    assert diag["preservation_cost"] == pytest.approx(float(torch.trace(delta @ c @ delta.T)), rel=1e-12)
    # λ_n = 0: plain MEMIT; a larger λ_n: a smaller update
    torch.testing.assert_close(solvers.memit(k, r, c, lam, 0.0)[0], solvers.memit(k, r, c, lam)[0])
    norms = [diag_["update_norm"] for _, diag_ in (solvers.memit(k, r, c, lam, n) for n in (0.0, 0.1, 1.0, 10.0))]
    assert all(a > b for a, b in zip(norms, norms[1:])), norms


def test_emmet_with_the_norm_term_keeps_its_constraints_and_tends_to_the_least_norm_update():
    k, r, c = problem(5, seed=2)
    plain, _ = solvers.emmet(k, r, c, mu=0.0)
    delta, diag = solvers.emmet(k, r, c, mu=0.0, norm=2.0)
    assert diag["relative_residual"] < 1e-10                       # ΔK = R still, exactly
    m = c + 2.0 * EYE
    torch.testing.assert_close(delta, solvers.emmet(k, r, m, mu=0.0)[0])
    # among the feasible updates it has the least tr(Δ (C0 + λ_n I) Δᵀ)
    project_out = EYE - k @ torch.linalg.pinv(k)
    g = torch.Generator().manual_seed(4)
    for _ in range(10):
        other = delta + 0.1 * torch.randn(D_V, D_K, generator=g, dtype=torch.float64) @ project_out
        assert float(torch.trace(other @ m @ other.T)) > float(torch.trace(delta @ m @ delta.T))
    assert torch.linalg.norm(delta) < torch.linalg.norm(plain)
    # λ_n → ∞: the metric is ∝ I, so EMMET writes the least-norm solution R K⁺
    huge, _ = solvers.emmet(k, r, c, mu=0.0, norm=1e9)
    torch.testing.assert_close(huge, r @ torch.linalg.pinv(k), rtol=1e-6, atol=1e-8)


def test_alphaedit_norm_term_adds_to_its_ridge():
    k, r, c = problem(4, seed=3)
    u, _, _ = solvers.null_space_basis(c, threshold=float(torch.linalg.eigvalsh(c)[10]))
    kp, _, _ = problem(7, seed=5)
    torch.testing.assert_close(solvers.alphaedit(k, r, c, u, kp @ kp.T, alpha=2.0, norm=3.0)[0],
                               solvers.alphaedit(k, r, c, u, kp @ kp.T, alpha=5.0)[0])
    with pytest.raises(ValueError, match="λ_n"):
        solvers.alphaedit(k, r, c, u, alpha=1.0, norm=-1.0)


def test_encore_solves_memits_objective_with_earlier_keys_and_the_norm_term():
    k, r, c = problem(4, seed=6)
    kp, _, _ = problem(9, seed=7)
    cfg = EncoreConfig(mom2_update_weight=5.0, norm_constraint=0.5)
    assert cfg.preserve_edits == 1.0
    delta, diag = get_method("encore").solve(k, r, c, cfg, preserved=kp @ kp.T)
    direct = r @ k.T @ torch.linalg.inv(5.0 * c + 0.5 * EYE + kp @ kp.T + k @ k.T)
    torch.testing.assert_close(delta, direct)
    assert diag["preservation_cost"] == pytest.approx(float(torch.trace(delta @ c @ delta.T)), rel=1e-10)
    assert diag["preserved_edits_cost"] == pytest.approx(float(torch.linalg.norm(delta @ kp) ** 2), rel=1e-10)
    # before any earlier edit: MEMIT with the norm term
    torch.testing.assert_close(get_method("encore").solve(k, r, c, cfg)[0], solvers.memit(k, r, c, 5.0, 0.5)[0])


@pytest.mark.parametrize("name, cfg", [("memit", MemitConfig(4.0, preserve_edits=2.0, norm_constraint=0.3)),
                                       ("emmet", EmmetConfig(0.0, 4.0, preserve_edits=2.0, norm_constraint=0.3)),
                                       ("encore", EncoreConfig(4.0, norm_constraint=0.3))])
def test_one_layer_joint_solve_with_the_norm_term_is_the_methods_own(name, cfg):
    """The objective's term of the joint solve over layers (weigh) carries λ_n I too."""
    k, r, c = problem(3, seed=8)
    kp, _, _ = problem(5, seed=9)
    method = get_method(name)
    own, _ = method.solve(k, r, c, cfg, preserved=kp @ kp.T)
    q, written, rho, _ = method.weigh(k, c, cfg, preserved=kp @ kp.T)
    joint, _ = solvers.joint([q], [written], r, rho)
    torch.testing.assert_close(joint[0], own)


def test_norm_constraint_is_checked_and_encore_stops_z_at_the_most_probable_step():
    for cls in (MemitConfig, EmmetConfig, EncoreConfig):
        with pytest.raises(HyperparameterError, match="norm_constraint"):
            cls(norm_constraint=-1.0)
    with pytest.raises(ValueError, match="λ_n"):
        solvers.with_norm(EYE, -0.1)
    hp, cfg = resolve_settings(None, get_method("encore"), [1], {})
    assert (hp.z_stop, hp.z_stop_count) == ("most_probable", 2)
    hp, _ = resolve_settings(None, get_method("encore"), [1], {"z_stop": "loss"})     # the caller's word wins
    assert hp.z_stop == "loss"
