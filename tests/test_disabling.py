"""Notebook 06's driver and rule: independent single edits, each measured (‖ΔW‖/‖W‖, GE,
perplexity) and flagged by the rule fixed in advance, the model restored between them."""
import math

import pandas as pd
import pytest
import torch
from conftest import DARRIEUX, FRANCE

from editlib.engine.edit.methods import ROME_ORIGINAL
from editlib.evaluation.metrics.perplexity import heldout_windows, perplexity
from editlib.experiments.disabling import (
    GE_FRACTION,
    PERPLEXITY_FACTOR,
    disabling,
    disabling_counts,
    independent_edits,
)
from editlib.experiments.drivers import Setting

FAST = dict(mom2_dataset="model-samples", mom2_n_tokens=2000, v_num_grad_steps=4, use_cache=False)
CASES = [{"case_id": i, "requested_rewrite": {"prompt": f["prompt"], "subject": f["subject"],
                                               "target_new": {"str": f["target_new"]},
                                               "target_true": {"str": f["target_true"]}},
          "paraphrase_prompts": [f"In short, {f['prompt'].format(f['subject'])}"],
          "neighborhood_prompts": ["The mother tongue of Paris is"]} for i, f in enumerate([DARRIEUX, FRANCE])]
SETTINGS = [Setting("rome_original", "rome_original", [1], dict(FAST), key="rome_original"),
            Setting("r-ROME", "rome", [1], {**ROME_ORIGINAL, **FAST}, key="r_rome"),
            Setting("rome", "rome", [1], dict(FAST), key="rome")]


def test_the_rule_is_the_one_fixed_in_advance():
    assert (PERPLEXITY_FACTOR, GE_FRACTION) == (2.0, 2 / 3)
    assert disabling(2.0, 500.0, 500.0)                    # perplexity doubled: disabling, whatever GE says
    assert not disabling(1.999, 500.0, 500.0)
    assert disabling(1.0, 333.0, 500.0)                    # GE below 2/3 of the unedited model's
    assert not disabling(1.0, 334.0, 500.0)
    assert not disabling(1.0, 0.0, 0.0)                    # a case whose unedited GE is 0 cannot fall below it


def test_counts_read_the_flags_and_which_part_of_the_rule_fired():
    rows = []
    for case, (ppl, ge, flag) in enumerate([(300, 100, 100), (100, 10, 100), (100, 100, 0), (110, 99, 0)]):
        for metric, value in (("perplexity %", ppl), ("GE", ge), ("disabling", flag), ("ΔW %", case)):
            rows.append({"setting": "rome_original", "case_id": case, "metric": metric, "value": value})
    counts = disabling_counts(pd.DataFrame(rows)).loc["rome_original"]
    assert counts["disabling"] == "2 of 4" and counts["by perplexity"] == 1 and counts["by GE only"] == 1
    assert counts["rate (95 % interval)"] == "50.0 [15.0, 85.0]"          # Wilson, 2 of 4
    assert counts["largest ΔW %"] == "3" and counts["largest perplexity %"] == "300"


@pytest.fixture(scope="module")
def run(tiny_llama):
    model, tok = tiny_llama
    before = {k: v.clone() for k, v in model.state_dict().items()}
    metrics, diags = independent_edits(model, tok, CASES, SETTINGS, model_name="tiny-llama", dataset="test",
                                       ppl_tokens=256, gen_tokens=8)
    after = model.state_dict()
    return metrics, diags, all(torch.equal(after[k], v) for k, v in before.items())


def test_every_edit_is_undone_bit_for_bit(run):
    assert run[2]


def test_the_measures_are_what_the_edited_model_gives(run, tiny_llama):
    """ΔW % and perplexity % of each edit, recomputed by editing the fact again
    with an editor of the same setting and measuring the model directly."""
    model, tok = tiny_llama
    metrics, _, _ = run
    windows, _ = heldout_windows(tok, model, n_tokens=256)
    ppl0 = perplexity(model, tok, windows)
    for s in SETTINGS:
        editor = s.editor(model, tok)
        name = editor.arch.name("rewrite", 1)
        w0 = model.get_submodule(name).weight.detach().double().clone()
        for case in CASES:
            with editor.edited([case]):
                dw = float((model.get_submodule(name).weight.detach().double() - w0).norm() / w0.norm())
                ratio = perplexity(model, tok, windows) / ppl0
            got = metrics[(metrics.setting == s.label) & (metrics.case_id == case["case_id"])].set_index("metric").value
            assert got["ΔW %"] == pytest.approx(100 * dw, rel=1e-6)
            assert got["perplexity %"] == pytest.approx(100 * ratio, rel=1e-9)


def test_each_flag_is_the_rule_read_on_the_table(run):
    metrics = run[0]
    wide = metrics.pivot_table(index=["setting", "case_id"], columns="metric", values="value")
    ge0 = wide.loc["unedited", "GE"]
    for (_, case), r in wide.drop(index="unedited").iterrows():
        assert r["disabling"] == 100.0 * disabling(r["perplexity %"] / 100, r["GE"], ge0[case])
    assert (wide.loc["unedited", "disabling"] == 0).all() and (wide.loc["unedited", "perplexity %"] == 100).all()
    assert set(metrics.unedited_perplexity) == {metrics.unedited_perplexity.iloc[0]}
    assert math.isfinite(metrics.unedited_perplexity.iloc[0])


def test_r_rome_is_the_original_with_one_key(run):
    """r-ROME takes the original's z (the same templates, steps and clamp) and writes it at
    k*; the original writes it at the bare prompt's key, so it misses at k*."""
    diags = run[1].set_index(["setting", "case_ids"])
    for case in CASES:
        ids = str([case["case_id"]])
        original, fixed = diags.loc[("rome_original", ids)], diags.loc[("r-ROME", ids)]
        assert original["z_loss"] == fixed["z_loss"]                          # the same z
        assert fixed["relative_residual"] < 1e-8                             # written at k*
        assert original["relative_residual_mean_key"] > 1e-6                 # the original misses there
