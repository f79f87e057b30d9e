"""Sequential (lifelong) editing: AlphaEdit's null-space solver, the preserved-edits term,
and batch after batch written into one model."""
import math

import pytest
import torch
from conftest import FACTS

from editlib import Editor
from editlib.base.errors import HyperparameterError, SingularSystemError
from editlib.engine.algebra import solvers
from editlib.engine.edit.methods import AlphaEditConfig, EmmetConfig, MemitConfig, get_method
from editlib.engine.targets.keys import compute_keys
from editlib.engine.targets.requests import as_requests
from editlib.experiments import Setting, sequential_edits
from editlib.experiments.drivers import window_table

D_K, D_V = 12, 7


def low_rank_c0(rank: int, seed: int = 0, n: int = 200):
    """C0 of preserved keys that span only ``rank`` of D_K directions (plus round-off)."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(D_K, D_K, generator=g, dtype=torch.float64))[0]
    k0 = basis[:, :rank] @ torch.randn(rank, n, generator=g, dtype=torch.float64)
    return k0 @ k0.T / n, k0, basis


def edit(b: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(D_K, b, generator=g, dtype=torch.float64),
            torch.randn(D_V, b, generator=g, dtype=torch.float64))


def test_null_space_projection_is_an_orthogonal_projection_of_the_small_eigenvalues():
    c0, _, basis = low_rank_c0(rank=8)
    p, rank = solvers.null_space_projection(c0, threshold=1e-8)
    assert rank == D_K - 8
    torch.testing.assert_close(p @ p, p)
    torch.testing.assert_close(p, p.T)
    torch.testing.assert_close(p, basis[:, 8:] @ basis[:, 8:].T)          # exactly the unused directions
    p_rel, rank_rel = solvers.null_space_projection(c0, threshold=1e-8, relative=True)
    assert rank_rel == rank
    with pytest.raises(SingularSystemError, match="raise null_space_threshold"):
        solvers.null_space_projection(torch.eye(D_K, dtype=torch.float64), threshold=0.5)


def test_alphaedit_leaves_preserved_keys_untouched():
    """Δ = X P: the keys C0 was collected from see Δ K0 ≈ 0, where MEMIT moves them."""
    c0, k0, _ = low_rank_c0(rank=8)
    p, _ = solvers.null_space_projection(c0, threshold=1e-8)
    u, _, _ = solvers.null_space_basis(c0, threshold=1e-8)
    keys, resid = edit(3)
    delta, diag = solvers.alphaedit(keys, resid, c0, u, alpha=1e-3)
    assert diag["preservation_cost"] == pytest.approx(float(torch.trace(delta @ c0 @ delta.T)), abs=1e-12)
    memit_delta, _ = solvers.memit(keys, resid, c0 + 1e-6 * torch.eye(D_K, dtype=torch.float64), 1.0)
    assert torch.linalg.norm(delta @ c0) < 1e-5 * torch.linalg.norm(memit_delta @ c0)
    assert torch.linalg.norm(delta @ k0) < 1e-9 * torch.linalg.norm(delta) * torch.linalg.norm(k0)
    torch.testing.assert_close(delta, delta @ p)                           # the update lives in P's range
    assert diag["preservation_cost"] < 1e-15 and diag["batch_size"] == 3
    assert diag["relative_residual"] < 0.05                                # the edit is still written


def test_alphaedit_with_the_identity_projection_is_ridge_regression():
    """P = I: Δ = R Kᵀ (K Kᵀ + K_p K_pᵀ + α I)⁻¹, i.e. MEMIT with C = (K_p K_pᵀ + α I), λ = 1."""
    keys, resid = edit(4)
    kp, _ = edit(6, seed=2)
    eye = torch.eye(D_K, dtype=torch.float64)
    delta, _ = solvers.alphaedit(keys, resid, eye, eye, preserved=kp @ kp.T, alpha=3.0)
    q = torch.linalg.qr(torch.randn(D_K, D_K, generator=torch.Generator().manual_seed(5), dtype=torch.float64))[0]
    torch.testing.assert_close(solvers.alphaedit(keys, resid, eye, q, preserved=kp @ kp.T, alpha=3.0)[0], delta)
    direct = resid @ keys.T @ torch.linalg.inv(keys @ keys.T + kp @ kp.T + 3.0 * eye)
    torch.testing.assert_close(delta, direct)
    via_memit, _ = solvers.memit(keys, resid, kp @ kp.T + 3.0 * eye, 1.0)
    torch.testing.assert_close(delta, via_memit)


def test_alphaedit_in_its_basis_is_the_authors_d_k_form():
    """Solved as an r × r system in the null space's basis, the update is the authors' form
    R Kᵀ P ((K Kᵀ + K_p K_pᵀ) P + αI)⁻¹ (a d_k × d_k system), to float64 rounding; the preserved
    keys may come projected (ÛᵀK_pK_pᵀÛ) with the same result."""
    c0, _, _ = low_rank_c0(rank=7, seed=4)
    u, _, rank = solvers.null_space_basis(c0, threshold=1e-8)
    p = u @ u.T
    keys, resid = edit(3, seed=6)
    kp, _ = edit(5, seed=7)
    eye = torch.eye(D_K, dtype=torch.float64)
    authors = resid @ keys.T @ p @ torch.linalg.inv((keys @ keys.T + kp @ kp.T) @ p + 0.5 * eye)
    delta, diag = solvers.alphaedit(keys, resid, c0, u, preserved=kp @ kp.T, alpha=0.5)
    torch.testing.assert_close(delta, authors, rtol=1e-9, atol=1e-12)
    projected, diag_p = solvers.alphaedit(keys, resid, c0, u, alpha=0.5, preserved_projected=u.T @ kp @ kp.T @ u)
    torch.testing.assert_close(projected, delta, rtol=1e-12, atol=1e-14)
    assert diag_p["preserved_edits_cost"] == pytest.approx(float(torch.linalg.norm(delta @ kp) ** 2), rel=1e-9)
    assert diag_p["update_norm"] == pytest.approx(float(torch.linalg.norm(delta)), rel=1e-9)
    assert diag_p["preservation_cost"] == pytest.approx(float(torch.trace(delta @ c0 @ delta.T)), rel=1e-6, abs=1e-12)
    miss = torch.linalg.norm(delta @ keys - resid)
    assert diag_p["memorization_residual"] == pytest.approx(float(miss), rel=1e-9)
    assert rank == D_K - 7 and diag_p["condition_number"] >= 1
    with pytest.raises(ValueError, match="once"):
        solvers.alphaedit(keys, resid, c0, u, preserved=kp @ kp.T, preserved_projected=u.T @ kp @ kp.T @ u)


def test_preserved_keys_in_a_basis_are_the_projected_gram():
    from editlib.engine.algebra.preserved import PreservedKeys

    kept = PreservedKeys()
    u = torch.linalg.qr(torch.randn(D_K, 5, generator=torch.Generator().manual_seed(8), dtype=torch.float64))[0]
    batches = [edit(3, seed=s)[0] for s in (1, 2, 3)]
    kept.add({1}, 3, {0: batches[0]})
    first = kept.gram(0, u)
    kept.add({2}, 3, {0: batches[1]})
    kept.add({3}, 3, {0: batches[2]})
    for got in (kept.gram(0, u), kept.gram(0, u.clone())):        # folded on, or rebuilt for another basis
        torch.testing.assert_close(got, u.T @ kept.gram(0) @ u)
    snap = kept.snapshot()
    kept.sync({1})                                                 # batches 2 and 3 undone from outside
    torch.testing.assert_close(kept.gram(0, u), first)
    kept.reset_to(snap)
    torch.testing.assert_close(kept.gram(0, u), u.T @ kept.gram(0) @ u)


def test_alphaedit_alpha_to_zero_with_square_keys_meets_every_constraint():
    keys, resid = edit(D_K)                                                 # K square, invertible
    eye = torch.eye(D_K, dtype=torch.float64)
    delta, _ = solvers.alphaedit(keys, resid, eye, eye, alpha=1e-10)
    torch.testing.assert_close(delta @ keys, resid, rtol=1e-6, atol=1e-6)


def test_preserved_keys_enter_memit_and_emmet_as_in_their_objectives():
    c0, _, _ = low_rank_c0(rank=D_K)
    keys, resid = edit(3)
    kp, _ = edit(5, seed=3)
    lam, gamma = 2.0, 4.0
    delta, diag = get_method("memit").solve(keys, resid, c0, MemitConfig(lam, preserve_edits=gamma),
                                            preserved=kp @ kp.T)
    direct = resid @ keys.T @ torch.linalg.inv(lam * c0 + gamma * kp @ kp.T + keys @ keys.T)
    torch.testing.assert_close(delta, direct)
    assert diag["preservation_cost"] == pytest.approx(float(torch.trace(delta @ c0 @ delta.T)), rel=1e-10)
    assert diag["preserved_edits_cost"] == pytest.approx(float(torch.linalg.norm(delta @ kp) ** 2), rel=1e-10)
    # EMMET (μ = 0) still meets its constraints, and moves the earlier edits' keys less
    cfg = EmmetConfig(mu=0.0, mom2_update_weight=1.0)
    free, d_free = get_method("emmet").solve(keys, resid, c0, cfg, preserved=kp @ kp.T)
    kept, d_kept = get_method("emmet").solve(keys, resid, c0, EmmetConfig(0.0, 1.0, preserve_edits=gamma),
                                             preserved=kp @ kp.T)
    assert d_kept["relative_residual"] < 1e-8
    assert d_kept["preserved_edits_cost"] < d_free["preserved_edits_cost"]
    torch.testing.assert_close(kept, solvers.emmet(keys, resid, c0 + gamma * kp @ kp.T, 0.0)[0])
    # nothing preserved, or weight 0: exactly the plain objective
    torch.testing.assert_close(get_method("memit").solve(keys, resid, c0, MemitConfig(lam), preserved=None)[0],
                               solvers.memit(keys, resid, c0, lam)[0])


def test_alphaedit_config_is_checked():
    with pytest.raises(HyperparameterError, match="null_space_threshold"):
        AlphaEditConfig(null_space_threshold=0)
    with pytest.raises(HyperparameterError, match="alpha"):
        AlphaEditConfig(alpha=-1)


# ----------------------------------------------------------------- on a tiny model

REQS = FACTS
TINY = dict(layers=[2], v_num_grad_steps=3, mom2_dataset="model-samples", mom2_n_tokens=3000)


def test_editor_keeps_the_keys_it_wrote_and_forgets_them_on_restore(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path))
    model, tok = tiny_llama
    ed = Editor(model, tok, method="emmet", mu=0.1, **TINY)
    first, second = as_requests(REQS[:2]), as_requests(REQS[2:])
    k1 = compute_keys(model, tok, ed.arch, first, [2], ed.templates)[2].double()
    ed.apply(first)
    k2 = compute_keys(model, tok, ed.arch, second, [2], ed.templates)[2].double()   # on the edited model
    res = ed.apply(second)
    assert res.diagnostics[0]["n_preserved"] == 2 and ed.n_preserved == 4
    torch.testing.assert_close(ed.preserved_gram(2), k1 @ k1.T + k2 @ k2.T)
    ed.restore()
    assert ed.n_preserved == 0 and ed.preserved_gram(2) is None
    with ed.edited(first):
        assert ed.n_preserved == 2
    assert ed.n_preserved == 0


def test_an_editor_forgets_facts_undone_from_outside(tiny_llama, tmp_path, monkeypatch):
    """e2 writes inside e1's edited() block; leaving the block undoes e2's edit, so e2 must
    neither count that fact nor keep its key in the preserved term. The same after
    editlib.restore(model). A fact still in the model stays preserved."""
    import editlib

    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path))
    model, tok = tiny_llama
    e1 = Editor(model, tok, method="emmet", mu=0.1, **TINY)
    e2 = Editor(model, tok, method="emmet", mu=0.1, preserve_edits=1.0, **TINY)
    first, second = as_requests(REQS[:2]), as_requests(REQS[2:])
    k1 = compute_keys(model, tok, e2.arch, first, [2], e2.templates)[2].double()
    e2.apply(first)                                    # outside any block: stays
    with e1.edited(second[:1]):
        e2.apply(second)                               # inside e1's block: undone on exit
        assert e2.n_preserved == 4
    with pytest.warns(UserWarning, match="2 of the facts it wrote were undone from outside"):
        assert e2.n_preserved == 2
    torch.testing.assert_close(e2.preserved_gram(2), k1 @ k1.T)
    editlib.restore(model)
    with pytest.warns(UserWarning, match="undone from outside"):
        assert e2.preserved_gram(2) is None and e2.n_preserved == 0
    res = e2.apply(second)                             # starts afresh: nothing stale in its preserved term
    assert res.diagnostics[0]["n_preserved"] == 0 and e2.n_preserved == 2
    e2.restore()


def test_alphaedit_warns_when_its_projection_preserves_nothing(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path))
    model, tok = tiny_llama
    ed = Editor(model, tok, method="alphaedit", null_space_threshold=1e12, **TINY)   # above every eigenvalue
    with pytest.warns(UserWarning, match="projection is the identity and nothing is preserved"):
        with ed.edited(as_requests(REQS[:1])) as res:
            d = res.diagnostics[0]
    assert d["projection_rank"] == model.config.intermediate_size and d["null_space_threshold"] == 1e12


def test_second_batch_z_comes_from_the_edited_model(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path))
    model, tok = tiny_llama
    ed = Editor(model, tok, method="memit", **TINY)
    z_before, _ = ed.targets(REQS[2:])
    with ed.edited(REQS[:2]):
        z_after, info = ed.targets(REQS[2:])
        assert info["cached"] == [False, False]                  # not the unedited model's entries
        fresh = Editor(model, tok, method="memit", use_cache=False, **TINY)
        torch.testing.assert_close(z_after, fresh.targets(REQS[2:])[0])
    assert not torch.allclose(z_before, z_after)


def test_alphaedit_writes_an_edit_on_a_tiny_model(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path))
    model, tok = tiny_llama
    ed = Editor(model, tok, method="alphaedit", null_space_threshold=0.15, relative_threshold=True, alpha=1.0,
                **TINY)
    cov = ed.covariances()[2]
    with ed.edited(REQS[:2]) as res:
        (name, delta), = res.deltas.items()
        d = res.diagnostics[0]
        assert 0 < d["projection_rank"] < cov.shape[0]
        p, _ = solvers.null_space_projection(cov, 0.15, relative=True)
        torch.testing.assert_close(delta, delta @ p, rtol=1e-6, atol=1e-9)
        assert d["preservation_cost"] == pytest.approx(float(torch.trace(delta @ cov.double() @ delta.T)), rel=1e-6)
        assert d["relative_residual"] < 0.9                      # something is written


def test_sequential_run_scores_every_batch_and_restores_bit_for_bit(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path))
    model, tok = tiny_llama
    before = {k: v.clone() for k, v in model.state_dict().items()}
    from editlib.evaluation.data import load_cases

    cases = load_cases("embedded", n=6, seed=0)
    over = {k: v for k, v in TINY.items() if k != "layers"}
    settings = [Setting("MEMIT", "memit", [2], over),
                Setting("AlphaEdit", "alphaedit", [2], {**over, "null_space_threshold": 0.15,
                                                         "relative_threshold": True}),
                Setting("ENCORE", "encore", [2], over)]
    metrics, traj = sequential_edits(model, tok, cases, settings, batch_size=2, n_batches=3, retention=4,
                                     ability_every=2, ppl_tokens=600, ge_cases=1, gen_tokens=5, retention_every=2)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    windows = window_table(traj)
    for (label, n), w in windows.groupby(["setting", "n_edits"]):
        ppl = traj[(traj.setting == label) & (traj.n_edits == n)].perplexity.iloc[0]
        assert len(w) == len(traj.window_nll.dropna().iloc[0]) and w.case_id.tolist() == list(range(len(w)))
        assert w.value.mean() == pytest.approx(math.log(ppl), rel=0.05)    # windows of (nearly) equal length
    assert sorted(windows[windows.setting == "ENCORE"].n_edits.unique()) == [0, 4, 6]
    for label in ("MEMIT", "AlphaEdit", "ENCORE"):
        t = traj[traj.setting == label]
        assert t.n_edits.tolist() == [0, 2, 4, 6]
        assert t.weight_drift.iloc[0] == 0 and (t.weight_drift.iloc[1:] > 0).all()
        assert t.perplexity.notna().tolist() == [True, False, True, True]      # every 2 batches and the last
        m = metrics[(metrics.setting == label) & (metrics.metric == "ES")]
        assert sorted(m[m.scope == "batch"].n_edits.unique()) == [2, 4, 6]
        n_ret = m[m.scope == "retention"].groupby("n_edits").size()
        assert n_ret.index.tolist() == [4, 6]                                   # every 2 batches and the last
        assert n_ret.is_monotonic_increasing and n_ret.iloc[-1] == 4           # the fixed sample fills up


@pytest.mark.parametrize("bad", [{"retention_every": 0}, {"ability_every": 1.5}])
def test_sequential_run_refuses_a_bad_schedule(tiny_llama, bad):
    model, tok = tiny_llama
    from editlib.evaluation.data import load_cases

    with pytest.raises(HyperparameterError, match=next(iter(bad))):
        sequential_edits(model, tok, load_cases("embedded", n=2, seed=0), [Setting("MEMIT", "memit", [2])],
                         batch_size=1, n_batches=2, **bad)


def test_window_losses_are_each_windows_own_nll(tiny_llama):
    """Batched and padded, each window's NLL is what the window alone gives; perplexity pools them."""
    from editlib.evaluation.metrics.perplexity import perplexity, perplexity_of, window_losses, window_nll

    model, tok = tiny_llama
    g = torch.Generator().manual_seed(0)
    windows = [torch.randint(5, 300, (n,), generator=g).tolist() for n in (40, 17, 33, 2)]
    sums, counts = window_losses(model, tok, windows, batch_tokens=80)       # several padded batches
    assert counts == [39, 16, 32, 1]
    for w, total in zip(windows, sums):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([w])).logits[0, :-1]
        alone = torch.nn.functional.cross_entropy(logits, torch.tensor(w[1:]), reduction="sum")
        assert total == pytest.approx(float(alone), rel=1e-4)
    assert window_nll(sums, counts) == pytest.approx([s / c for s, c in zip(sums, counts)])
    assert perplexity(model, tok, windows, batch_tokens=80) == pytest.approx(math.exp(sum(sums) / sum(counts)))
    assert perplexity_of(sums, counts) == pytest.approx(math.exp(sum(sums) / sum(counts)))
