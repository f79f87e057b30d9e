"""Algebraic identities of the closed forms, on random matrices."""
import pytest
import torch

from editlib.engine.algebra.solvers import SingularSystemError, emmet, memit, rome, rome_original

D_K, D_V = 40, 24


def problem(batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    k0 = torch.randn(D_K, 400, generator=g, dtype=torch.float64)
    cov = k0 @ k0.T / 400                                    # C0 = K0 K0ᵀ / n, well conditioned
    keys = torch.randn(D_K, batch, generator=g, dtype=torch.float64)
    resid = torch.randn(D_V, batch, generator=g, dtype=torch.float64)
    return keys, resid, cov


def test_rome_matches_its_formula():
    k, r, c = problem(1)
    delta, diag = rome(k, r, c)
    c_inv_k = torch.linalg.inv(c) @ k
    expected = r @ c_inv_k.T / (k.T @ c_inv_k)
    torch.testing.assert_close(delta, expected, rtol=1e-10, atol=1e-12)
    assert diag["relative_residual"] < 1e-12


def test_emmet_single_fact_without_ridge_is_rome():
    k, r, c = problem(1, seed=3)
    torch.testing.assert_close(emmet(k, r, c, mu=0.0)[0], rome(k, r, c)[0], rtol=1e-10, atol=1e-12)


def test_emmet_meets_every_constraint_exactly():
    k, r, c = problem(16)
    delta, diag = emmet(k, r, c, mu=0.0)
    miss = torch.linalg.norm(delta @ k - r) / torch.linalg.norm(r)
    assert miss < 1e-8
    assert diag["relative_residual"] == pytest.approx(float(miss), abs=1e-12)


def test_memit_tends_to_emmet_as_lambda_vanishes():
    k, r, c = problem(8)
    target = emmet(k, r, c, mu=0.0)[0]
    errors = [float(torch.linalg.norm(memit(k, r, c, lam)[0] - target) / torch.linalg.norm(target))
              for lam in (1.0, 1e-2, 1e-4, 1e-6)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-5


def test_memit_matches_its_formula():
    k, r, c = problem(5)
    lam = 3.0
    expected = r @ k.T @ torch.linalg.inv(lam * c + k @ k.T)
    torch.testing.assert_close(memit(k, r, c, lam)[0], expected, rtol=1e-9, atol=1e-12)


def test_emmet_has_the_least_preservation_cost_among_feasible_updates():
    k, r, c = problem(6)
    delta, diag = emmet(k, r, c, mu=0.0)
    cost = diag["preservation_cost"]
    assert cost == pytest.approx(float(torch.trace(delta @ c @ delta.T)), rel=1e-12)
    project_out = torch.eye(D_K, dtype=torch.float64) - k @ torch.linalg.pinv(k)   # N K = 0
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        other = delta + 0.1 * torch.randn(D_V, D_K, generator=g, dtype=torch.float64) @ project_out
        assert torch.linalg.norm(other @ k - r) / torch.linalg.norm(r) < 1e-8   # still feasible
        assert float(torch.trace(other @ c @ other.T)) > cost


def test_emmet_ridge_trades_exactness_for_stability():
    k, r, c = problem(8)
    exact = emmet(k, r, c, mu=0.0)[1]
    ridged = emmet(k, r, c, mu=10.0)[1]
    assert ridged["relative_residual"] > exact["relative_residual"]
    assert ridged["condition_number"] < exact["condition_number"]
    assert ridged["preservation_cost"] < exact["preservation_cost"]


def test_rank_deficient_keys_need_a_ridge():
    k, r, c = problem(4)
    k = torch.cat([k, k[:, :1]], dim=1)                     # a repeated key
    r = torch.cat([r, r[:, :1]], dim=1)
    with pytest.raises(SingularSystemError, match="mu"):
        emmet(k, r, c, mu=0.0)
    delta, diag = emmet(k, r, c, mu=0.1)
    assert torch.isfinite(delta).all()


def test_singular_covariance_is_refused():
    k, r, _ = problem(1)
    v = torch.randn(D_K, 3, dtype=torch.float64)
    with pytest.raises(SingularSystemError, match="covariance"):
        rome(k, r, v @ v.T)


def test_bad_shapes_and_values_are_refused():
    k, r, c = problem(2)
    with pytest.raises(ValueError, match="one fact"):
        rome(k, r, c)
    with pytest.raises(ValueError, match="columns"):
        memit(k, r[:, :1], c, 1.0)
    with pytest.raises(ValueError, match="cov"):
        emmet(k, r, c[:-1, :-1])
    k_nan = k.clone()
    k_nan[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="keys"):
        emmet(k_nan, r, c)


def test_solvers_return_float64_and_accept_float32():
    k, r, c = problem(3)
    delta, diag = memit(k.float(), r.float(), c.float(), 10.0)
    assert delta.dtype == torch.float64 and delta.shape == (D_V, D_K)
    assert {"preservation_cost", "memorization_residual", "condition_number"} <= set(diag)


# ---------------------------------------------------------------- ROME as its authors wrote it

def test_rome_original_with_one_key_is_rome():
    k, r, c = problem(1)
    d_orig, _ = rome_original(k, k, r, c)
    d_rome, _ = rome(k, r, c)
    torch.testing.assert_close(d_orig, d_rome, rtol=1e-12, atol=1e-12)


def test_rome_original_meets_the_constraint_at_the_plain_key_in_the_mean_keys_direction():
    k_star, r, c = problem(1)
    k_plain = k_star + 0.3 * problem(1, seed=5)[0]
    delta, diag = rome_original(k_star, k_plain, r, c)
    torch.testing.assert_close(delta @ k_plain, r, rtol=1e-10, atol=1e-10)   # Ŵ k_plain = v*
    assert diag["relative_residual"] < 1e-12 and diag["relative_residual_mean_key"] > 1e-3
    u = torch.linalg.solve(c, k_star)[:, 0]                                   # direction C⁻¹ k*
    assert torch.linalg.matrix_rank(delta) == 1
    cos = torch.nn.functional.cosine_similarity(delta[0], u, dim=0)
    assert abs(float(cos)) == pytest.approx(1.0, abs=1e-12)
    unified, _ = rome(k_plain, r, c)                                          # not ROME at either key
    assert not torch.allclose(delta, unified) and not torch.allclose(delta, rome(k_star, r, c)[0])


def test_a_factor_computed_once_gives_the_same_updates_to_the_bit():
    """ROME, the original ROME, EMMET and the joint solve's M⁻¹K take C's (or EMMET's M's)
    Cholesky factor computed before: what a run of many single edits factorizes once."""
    from editlib.engine.algebra.solvers import emmet_metric, factorized, metric_weighted

    k, r, c = problem(3, seed=5)
    c32 = c.float()                                        # C0 as the Editor may hold it
    f = factorized(c32.double(), "C0", "")
    for col in range(3):
        one, rest = k[:, col:col + 1], r[:, col:col + 1]
        assert torch.equal(rome(one, rest, c32, factor=f)[0], rome(one, rest, c32)[0])
        plain = one + 0.1
        assert torch.equal(rome_original(one, plain, rest, c32, factor=f)[0], rome_original(one, plain, rest, c32)[0])
    m = factorized(emmet_metric(500.0 * c32, 10.0), "M", "")
    for mu in (0.0, 0.1):
        fresh, diag = emmet(k, r, 500.0 * c32, mu, 10.0)
        again, diag_again = emmet(k, r, 500.0 * c32, mu, 10.0, factor=m)
        assert torch.equal(again, fresh) and diag_again == diag
    assert torch.equal(metric_weighted(c32, k, factor=f)[0], metric_weighted(c32, k)[0])


def test_a_factor_of_another_matrix_is_refused():
    from editlib.engine.algebra.solvers import factorized

    k, r, c = problem(1, seed=6)
    other = factorized(c + torch.eye(D_K, dtype=c.dtype), "C0", "")
    with pytest.raises(ValueError, match="another matrix"):
        rome(k, r, c, factor=other)
    with pytest.raises(ValueError, match="another matrix"):
        emmet(k, r, c, 0.0, 10.0, factor=factorized(c, "C0", ""))      # C's factor, M = C + λ_n I


def test_factorizing_a_matrix_with_nan_names_the_nan_not_singularity():
    from editlib.engine.algebra.solvers import factorized

    _, _, c = problem(1, seed=7)
    c[3, 5] = float("nan")
    with pytest.raises(FloatingPointError, match="the covariance C0 holds NaN"):
        factorized(c, "the covariance C0", "")
    with pytest.raises(SingularSystemError):
        factorized(torch.zeros(D_K, D_K, dtype=torch.float64), "the covariance C0", "")
