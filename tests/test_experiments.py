"""The experiment drivers the notebooks call: which batches get edited and scored."""
import pytest

from editlib.engine.model.tiny import tiny_model
from editlib.evaluation.data import load_cases
from editlib.experiments import Setting, batch_edits, edit_plan, key_conditioning


def test_edit_plan_every_batch_without_a_sample():
    assert edit_plan(10, 4) == [(0, 4), (4, 4)]            # the remainder (2 cases) is not a batch
    assert edit_plan(3, 1) == [(0, 1), (1, 1), (2, 1)]


def test_edit_plan_scores_a_sample_of_edited_facts():
    assert edit_plan(64, 1, scored=3) == [(0, 1), (1, 1), (2, 1)]
    assert edit_plan(64, 16, scored=20) == [(0, 16), (16, 4)]
    assert edit_plan(64, 64, scored=8) == [(0, 8)]          # one batch of 64, 8 of them scored
    assert edit_plan(8, 16, scored=8) == []                  # batch larger than the cases


def test_batch_edits_writes_whole_batches_and_scores_the_sample(tiny_llama, tiny_cov_settings):
    model, tok = tiny_llama
    cases = load_cases("embedded", n=8, seed=0)
    over = dict(v_num_grad_steps=2, **{k: v for k, v in tiny_cov_settings.items() if k != "progress"})
    settings = [Setting("MEMIT", "memit", [1], over), Setting("EMMET", "emmet", [1], over)]
    metrics, diags = batch_edits(model, tok, cases, settings, (1, 8), model_name="tiny-llama", scored=3)
    scored = metrics[metrics.metric == "ES"].groupby(["setting", "batch_size"]).case_id.apply(list)
    first3 = [c["case_id"] for c in cases[:3]]
    assert scored.to_dict() == {(s, b): first3 for s in ("EMMET", "MEMIT") for b in (1, 8)}
    big = diags[diags.batch_size == 8]
    assert len(big) == 2 and all(eval(ids) == [c["case_id"] for c in cases] for ids in big.case_ids)
    assert set(diags.batch_size) == {1, 8} and (diags[diags.batch_size == 1].groupby("setting").size() == 3).all()


def test_key_conditioning_grows_with_the_batch_and_the_ridge_bounds_it(tiny_cov_settings):
    from editlib.engine.model.loading import default_device

    model, tok = tiny_model("llama", device=default_device())   # CUDA where present: C0 stays on the CPU
    cases = load_cases("embedded", n=40, seed=0)
    over = {k: v for k, v in tiny_cov_settings.items() if k != "progress"}
    cond = key_conditioning(model, tok, cases, 1, [1, 8, 40], mus=(0.0, 0.1), overrides=over)
    exact = cond[cond.mu == 0.0].set_index("batch_size").condition_number
    ridge = cond[cond.mu == 0.1].set_index("batch_size").condition_number
    assert exact[1] == pytest.approx(1.0) and exact[8] < exact[40]
    assert (ridge <= exact * (1 + 1e-9)).all()
