"""Edit distribution as a family of rules: the joint solve's closed form against numerical
minimisers, its reductions to each objective on one layer, and the rules in the Editor."""
import numpy as np
import pytest
import torch
from conftest import FACTS
from scipy.optimize import minimize

from editlib import Editor
from editlib.base.errors import HyperparameterError
from editlib.engine.algebra import solvers
from editlib.engine.algebra.distribute import RULES
from editlib.engine.model.tiny import tiny_model
from editlib.engine.targets.keys import compute_keys

D_K, D_V = 12, 5


def _spd(g, n=D_K):
    a = torch.randn(n, 4 * n, generator=g, dtype=torch.float64)
    return a @ a.T / (4 * n)


def layered(n_layers, batch, seed=0, d_k=D_K, d_v=D_V):
    """Random well-conditioned (keys, C) per layer and one residual R."""
    g = torch.Generator().manual_seed(seed)
    keys = [torch.randn(d_k, batch, generator=g, dtype=torch.float64) for _ in range(n_layers)]
    covs = [_spd(g, d_k) for _ in range(n_layers)]
    resid = torch.randn(d_v, batch, generator=g, dtype=torch.float64)
    return keys, covs, resid


def weighted(keys, metrics):
    return [torch.linalg.solve(m, k) for k, m in zip(keys, metrics)]


def objective(deltas, keys, metrics, resid, ridge):
    cost = sum(torch.trace(d @ m @ d.T) for d, m in zip(deltas, metrics))
    miss = sum(d @ k for d, k in zip(deltas, keys)) - resid
    return cost + (miss * miss).sum() / ridge


# ---------------------------------------------------------------- the closed form


@pytest.mark.parametrize("ridge", [1.0, 0.05])
def test_joint_least_squares_form_is_the_minimiser(ridge):
    """min Σ tr(Δ_l M_l Δ_lᵀ) + (1/ρ)‖Σ Δ_l K_l − R‖², found by L-BFGS from zero, equals the closed form."""
    keys, covs, resid = layered(3, 2, d_k=5, d_v=3)

    def f(x):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        ds = list(t.view(3, 3, 5))
        val = objective(ds, keys, covs, resid, ridge)
        val.backward()
        return float(val.detach()), t.grad.numpy().copy()

    found = minimize(f, np.zeros(3 * 3 * 5), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15,
                                                                                      "maxiter": 5000})
    closed, _ = solvers.joint(weighted(keys, covs), keys, resid, ridge)
    np.testing.assert_allclose(torch.stack(closed).numpy().ravel(), found.x, rtol=1e-5, atol=1e-7)


def test_joint_equality_form_is_the_constrained_minimiser():
    """ρ = 0: min Σ tr(Δ_l C_l Δ_lᵀ) s.t. Σ Δ_l K_l = R, found by SLSQP, equals the closed form."""
    keys, covs, resid = layered(3, 2, d_k=5, d_v=3)
    ks, cs, r = [k.numpy() for k in keys], [c.numpy() for c in covs], resid.numpy()

    def split(x):
        return x.reshape(3, 3, 5)

    def cost(x):
        return sum(np.trace(d @ c @ d.T) for d, c in zip(split(x), cs))

    def constraint(x):
        return (sum(d @ k for d, k in zip(split(x), ks)) - r).ravel()

    found = minimize(cost, np.zeros(45), method="SLSQP", constraints=[{"type": "eq", "fun": constraint}],
                     options={"ftol": 1e-14, "maxiter": 1000})
    closed, diag = solvers.joint(weighted(keys, covs), keys, resid, 0.0)
    assert diag["relative_residual"] < 1e-10
    np.testing.assert_allclose(torch.stack(closed).numpy().ravel(), found.x, rtol=1e-4, atol=1e-6)


def test_single_fact_shares_are_proportional_to_s_and_cost_is_below_every_layer():
    """One fact: α_l = s_l / Σ s with s_l = k_lᵀC_l⁻¹k_l, total cost ‖r‖² / Σ s, less than
    writing the whole residual at any one layer (‖r‖² / s_l)."""
    keys, covs, resid = layered(4, 1, seed=2)
    s = torch.tensor([float(k.T @ torch.linalg.solve(c, k)) for k, c in zip(keys, covs)], dtype=torch.float64)
    deltas, _ = solvers.joint(weighted(keys, covs), keys, resid, 0.0)
    r2 = float(resid.T @ resid)
    shares = torch.tensor([float((d @ k).T @ resid) / r2 for d, k in zip(deltas, keys)], dtype=torch.float64)
    torch.testing.assert_close(shares, s / s.sum(), rtol=1e-10, atol=1e-12)
    cost = sum(float(torch.trace(d @ c @ d.T)) for d, c in zip(deltas, covs))
    assert cost == pytest.approx(r2 / float(s.sum()), rel=1e-10)
    assert cost < min(r2 / s).item()


def test_joint_costs_less_than_uniform_shares():
    """Both meet Σ Δ_l K_l = R; the joint solve preserves more (a lower Σ tr(Δ_lC_lΔ_lᵀ))."""
    keys, covs, resid = layered(3, 4, seed=5)
    joint, _ = solvers.joint(weighted(keys, covs), keys, resid, 0.0)
    uniform = [solvers.emmet(k, resid / 3, c, 0.0)[0] for k, c in zip(keys, covs)]
    for deltas in (joint, uniform):
        torch.testing.assert_close(sum(d @ k for d, k in zip(deltas, keys)), resid, rtol=1e-9, atol=1e-10)

    def cost(deltas):
        return sum(float(torch.trace(d @ c @ d.T)) for d, c in zip(deltas, covs))

    assert cost(joint) < cost(uniform)


# ---------------------------------------------------------------- one layer: each objective's own form


def test_joint_on_one_layer_is_each_objective():
    keys, covs, resid = layered(1, 3, seed=7)
    k, c, r = keys[0], covs[0], resid
    lam, mu = 2.5, 0.3

    def joint(metric, ridge, written=None):
        return solvers.joint([torch.linalg.solve(metric, k)], [k if written is None else written], r, ridge)[0][0]

    close = dict(rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(joint(lam * c, 1.0), solvers.memit(k, r, c, lam)[0], **close)       # MEMIT
    torch.testing.assert_close(joint(c, mu), solvers.emmet(k, r, c, mu)[0], **close)               # EMMET, ridge
    torch.testing.assert_close(joint(c, 0.0), solvers.emmet(k, r, c, 0.0)[0], **close)             # EMMET, exact
    k1, r1 = k[:, :1], r[:, :1]
    plain = k1 + 0.1 * torch.randn(k1.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = solvers.joint([torch.linalg.solve(c, k1)], [plain], r1, 0.0)[0][0]
    torch.testing.assert_close(got, solvers.rome_original(k1, plain, r1, c)[0], **close)          # original ROME
    torch.testing.assert_close(solvers.joint([torch.linalg.solve(c, k1)], [k1], r1, 0.0)[0][0],
                               solvers.rome(k1, r1, c)[0], **close)                                # ROME


@pytest.mark.parametrize("with_preserved", [False, True])
def test_joint_on_one_layer_is_alphaedit(with_preserved):
    """AlphaEdit's metric on the null space, W = P(PGP + αI)⁻¹P with ρ = 1."""
    keys, covs, resid = layered(1, 3, seed=9)
    k, c, r = keys[0], covs[0], resid
    u, _, _ = solvers.null_space_basis(c, 0.5, relative=True)
    g = torch.Generator().manual_seed(3)
    kp = torch.randn(D_K, 4, generator=g, dtype=torch.float64)
    preserved = kp @ kp.T if with_preserved else None
    q, _ = solvers.projected_weighted(u, k, 2.0, preserved_projected=None if preserved is None else u.T @ preserved @ u)
    torch.testing.assert_close(solvers.projected_weighted(u, k, 2.0, preserved)[0], q)      # projected here
    got = solvers.joint([q], [k], r, 1.0)[0][0]
    torch.testing.assert_close(got, solvers.alphaedit(k, r, c, u, preserved, alpha=2.0)[0], rtol=1e-9, atol=1e-11)


def test_joint_refuses_bad_input():
    keys, covs, resid = layered(2, 2)
    with pytest.raises(ValueError, match="one weighted key matrix per written one"):
        solvers.joint(weighted(keys, covs), keys[:1], resid)
    with pytest.raises(ValueError, match="ridge"):
        solvers.joint(weighted(keys, covs), keys, resid, -1.0)
    with pytest.raises(ValueError, match="d_k × B"):
        solvers.joint(weighted(keys, covs), keys, resid[:, :1])
    twin = [keys[0][:, [0, 0]], keys[1][:, [0, 0]]]            # the same fact twice: S is singular
    with pytest.raises(solvers.SingularSystemError, match="ridge"):
        solvers.joint(weighted(twin, covs), twin, resid, 0.0)


# ---------------------------------------------------------------- the rules in the Editor

METHODS = {"rome": {}, "rome_original": {}, "memit": {}, "emmet": {"mu": 0.0},
           "alphaedit": {"null_space_threshold": 0.1, "relative_threshold": True}}


def _editor(model, tok, method, layers, rule, tiny_cov_settings, **kw):
    return Editor(model, tok, method=method, layers=layers, distribution=rule, v_num_grad_steps=3,
                  **tiny_cov_settings, **METHODS[method], **kw)


@pytest.mark.filterwarnings("ignore:distribution=.*value_site='rewrite'")   # rome_original: its own test below
@pytest.mark.parametrize("method", list(METHODS))
def test_every_rule_works_for_every_objective_and_restores(tiny_llama, tiny_cov_settings, method):
    model, tok = tiny_llama
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    facts = FACTS[:1] if method.startswith("rome") else FACTS[:2]
    for rule in RULES:
        ed = _editor(model, tok, method, [0, 1, 2], rule, tiny_cov_settings)
        with ed.edited(facts) as result:
            diag = result.diagnostics_frame()
            assert list(diag.layer) == [0, 1, 2]
            assert {"share", "share_realised", "share_norm", "value_miss", "preservation_cost"} <= set(diag)
            assert set(result.deltas) == {f"model.layers.{i}.mlp.down_proj" for i in range(3)}
            if rule in ("uniform", "optimal") and method in ("rome", "emmet"):
                # unedited keys and an exact objective: the layers' first-order parts add up to R0
                assert diag.share_realised.sum() == pytest.approx(1.0, abs=1e-6)
        for n, p in model.named_parameters():
            assert torch.equal(p, before[n]), (method, rule, n)


def test_optimal_shares_follow_s_in_the_model(tiny_llama, tiny_cov_settings):
    """ROME spread by ``optimal``: layer l's realised share is s_l / Σ s, s_l = k_lᵀ C_l⁻¹ k_l
    with the unedited model's keys, and the whole residual is written."""
    model, tok = tiny_llama
    ed = _editor(model, tok, "rome", [0, 1, 2], "optimal", tiny_cov_settings)
    covs = ed.covariances()
    keys = compute_keys(model, tok, ed.arch, ed.check_requests(FACTS[:1]), [0, 1, 2], ed.templates,
                        ed.hparams.fact_token, ed.hparams.key_average)
    s = np.array([float(keys[l].T.double() @ torch.linalg.solve(covs[l].double(), keys[l].double()))
                  for l in (0, 1, 2)])
    with ed.edited(FACTS[:1]) as result:
        diag = result.diagnostics_frame()
    np.testing.assert_allclose(diag.share_realised, s / s.sum(), rtol=1e-6)
    assert diag.relative_residual.max() < 1e-8


def test_one_layer_is_the_same_edit_under_every_rule(tiny_llama, tiny_cov_settings):
    model, tok = tiny_llama
    deltas = {}
    for rule in RULES:
        with _editor(model, tok, "emmet", [1], rule, tiny_cov_settings).edited(FACTS[:2]) as result:
            deltas[rule] = result.deltas
    for rule in RULES:
        for name, d in deltas["memit"].items():
            assert torch.equal(deltas[rule][name], d), rule


def test_one_round_of_recomputation_is_the_joint_solve(tiny_llama, tiny_cov_settings):
    model, tok = tiny_llama
    out = []
    for rule, rounds in (("optimal", 2), ("optimal_recompute", 1)):
        with _editor(model, tok, "memit", [0, 1], rule, tiny_cov_settings,
                     distribution_rounds=rounds).edited(FACTS[:2]) as result:
            out.append(result.deltas)
    for name in out[0]:
        assert torch.equal(out[0][name], out[1][name])


def test_recomputation_writes_what_is_left(tiny_llama, tiny_cov_settings):
    """A second round solves for Z − H on the edited model: the summed Δ differs from one round's."""
    model, tok = tiny_llama
    out = {}
    for rounds in (1, 2):
        with _editor(model, tok, "rome", [0, 1], "optimal_recompute", tiny_cov_settings,
                     distribution_rounds=rounds).edited(FACTS[:1]) as result:
            out[rounds] = result
    assert (out[2].diagnostics_frame().rounds == 2).all()
    name = next(iter(out[1].deltas))
    assert not torch.equal(out[1].deltas[name], out[2].deltas[name])


def test_unknown_rule_and_bad_rounds_are_refused(tiny_llama, tiny_cov_settings):
    model, tok = tiny_llama
    with pytest.raises(HyperparameterError, match="distribution"):
        _editor(model, tok, "memit", [0, 1], "optimall", tiny_cov_settings)
    with pytest.raises(HyperparameterError, match="distribution_rounds"):
        _editor(model, tok, "memit", [0, 1], "optimal_recompute", tiny_cov_settings, distribution_rounds=0)


def test_a_planned_rule_where_writes_do_not_add_is_warned(recwarn):
    """Gemma-3 keeps z at the rewrite module's output: a rule that plans the shares up front
    is warned about; MEMIT's rule, and any rule on one layer, are not."""
    model, tok = tiny_model("gemma3")
    fast = dict(mom2_dataset="model-samples", mom2_n_tokens=2000, use_cache=False, progress=False)
    with pytest.warns(UserWarning, match="value_site='rewrite'.*value_miss"):
        Editor(model, tok, method="memit", layers=[0, 1], distribution="optimal", **fast)
    recwarn.clear()
    Editor(model, tok, method="memit", layers=[0, 1], distribution="memit", **fast)
    Editor(model, tok, method="memit", layers=[1], distribution="uniform", **fast)
    assert not [w for w in recwarn if "value_site" in str(w.message)]


def test_a_preset_chooses_the_rule_per_method_and_a_bad_one_is_refused():
    """The rule is an EditHparams field: a preset sets it for all methods or for one, the
    caller's keyword wins, and a preset naming an unknown rule is refused when validated."""
    from dataclasses import asdict, replace

    from editlib.engine.edit.methods import get_method
    from editlib.engine.edit.presets import _validate_preset, load_preset, resolve_settings

    base = load_preset("smollm2-135m")
    assert base.edit_hparams("spread", method="memit").distribution == "memit"
    preset = replace(base, methods={**base.methods, "memit": {**base.methods.get("memit", {}),
                                                              "distribution": "optimal"}})
    assert preset.edit_hparams("spread", method="memit").distribution == "optimal"
    assert preset.edit_hparams("spread", method="emmet").distribution == "memit"
    hp, _ = resolve_settings(preset, get_method("memit"), "spread", {"distribution": "uniform"})
    assert hp.distribution == "uniform"
    bad = {**asdict(base), "hparams": {**base.hparams, "distribution": "evenly"}}
    with pytest.raises(HyperparameterError, match="distribution"):
        _validate_preset(bad, "test")
