"""Datasets and metrics: loaders, hand-computed metric values through the real scoring
path, batched = one-at-a-time scoring, and pre/post-edit scores on SmolLM2."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from editlib import DatasetError, Editor
from editlib.evaluation.data import embedded_counterfact, load_cases, load_counterfact, subset
from editlib.evaluation.evaluate import evaluate
from editlib.evaluation.metrics.counterfact import harmonic_mean, probe_scores
from editlib.evaluation.metrics.generation import generation_entropy, ngram_entropy
from editlib.evaluation.metrics.scoring import shared_sequences, target_nll
from editlib.evaluation.statistics import interval_table, summarize, wilson

CASE = {
    "case_id": 7,
    "requested_rewrite": {"prompt": "The capital of {} is", "subject": "France",
                          "target_new": {"str": "Rome"}, "target_true": {"str": "Paris"}},
    "paraphrase_prompts": ["France's capital city is", "The capital city of France is"],
    "neighborhood_prompts": ["The capital of Gaul is", "Berlin is the capital of", "Rome and"],
}


def manual_nll(model, tok, prompt, target):
    """Mean NLL of ' ' + target after prompt, from one plain forward pass."""
    p = tok(prompt).input_ids
    t = tok(" " + target, add_special_tokens=False).input_ids
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([p + t])).logits[0].double(), -1)
    return -np.mean([logp[len(p) - 1 + k, x].item() for k, x in enumerate(t)])


def test_probe_metrics_match_hand_computed_values(tiny_gpt2):
    model, tok = tiny_gpt2
    nll = {(p, t): manual_nll(model, tok, p, t)
           for p in ["The capital of France is"] + CASE["paraphrase_prompts"] + CASE["neighborhood_prompts"]
           for t in ("Rome", "Paris")}
    row = probe_scores(model, tok, [CASE]).iloc[0]
    rw = "The capital of France is"
    assert row.ES == 100 * (nll[rw, "Paris"] > nll[rw, "Rome"])
    para, neigh = CASE["paraphrase_prompts"], CASE["neighborhood_prompts"]
    assert row.PS == pytest.approx(100 * np.mean([nll[p, "Paris"] > nll[p, "Rome"] for p in para]))
    assert row.NS == pytest.approx(100 * np.mean([nll[p, "Paris"] < nll[p, "Rome"] for p in neigh]))
    assert row.EM == pytest.approx(100 * (math.exp(-nll[rw, "Rome"]) - math.exp(-nll[rw, "Paris"])), rel=1e-4, abs=1e-6)
    pm = np.mean([math.exp(-nll[p, "Rome"]) - math.exp(-nll[p, "Paris"]) for p in CASE["paraphrase_prompts"]])
    assert row.PM == pytest.approx(100 * pm, rel=1e-4, abs=1e-6)
    nm = np.mean([math.exp(-nll[p, "Paris"]) - math.exp(-nll[p, "Rome"]) for p in CASE["neighborhood_prompts"]])
    assert row.NM == pytest.approx(100 * nm, rel=1e-4, abs=1e-6)


def test_batched_scoring_equals_one_at_a_time(tiny_gpt2):
    model, tok = tiny_gpt2
    prompts = ["The capital of France is", "Berlin", "Toko Yasuda plays the guitar and the", "A"]
    targets = ["Paris", "is the capital of Germany", "piano", "B C D"]
    batched = target_nll(model, tok, prompts, targets, max_tokens=64)
    single = [target_nll(model, tok, [p], [t])[0] for p, t in zip(prompts, targets)]
    np.testing.assert_allclose(batched, single, rtol=1e-5)
    np.testing.assert_allclose(batched, [manual_nll(model, tok, p, t) for p, t in zip(prompts, targets)], rtol=1e-4)


def test_pairs_of_one_prompt_share_a_sequence_when_their_targets_allow():
    rows = [([1, 2], [7]), ([1, 2], [8]), ([1, 2], [7, 9, 4]), ([1, 2], [8, 5]), ([3], [7])]
    seqs, home = shared_sequences(rows)
    # [1, 2, 7, 9] serves rows 0 and 2 (and row 1's single token: only the prompt is read);
    # row 3 needs [1, 2, 8]; row 4 has its own prompt
    assert sorted(map(tuple, seqs)) == [(1, 2, 7, 9), (1, 2, 8), (3,)]
    assert seqs[home[0]] == seqs[home[1]] == seqs[home[2]] == [1, 2, 7, 9]
    assert seqs[home[3]] == [1, 2, 8] and seqs[home[4]] == [3]


def test_shared_sequences_score_as_separate_forward_passes(tiny_gpt2):
    model, tok = tiny_gpt2
    prompts = ["The capital of France is"] * 4 + ["Rome and"] * 2
    targets = ["Paris", "Rome", "is the capital of Germany", "Rome Rome", "Paris", "B C D"]
    shared = target_nll(model, tok, prompts, targets, max_tokens=64)
    np.testing.assert_allclose(shared, [manual_nll(model, tok, p, t) for p, t in zip(prompts, targets)], rtol=1e-4)


def test_summary_score_is_the_harmonic_mean_and_ci_brackets_the_mean():
    long = pd.DataFrame({"case_id": [1, 2, 1, 2, 1, 2], "metric": ["ES", "ES", "PS", "PS", "NS", "NS"],
                         "value": [100.0, 0.0, 100.0, 100.0, 50.0, 50.0]})
    s = summarize(long).set_index("metric")
    assert s.loc["S", "mean"] == pytest.approx(3 / (1 / 50 + 1 / 100 + 1 / 50))
    assert s.loc["ES", "ci_low"] < 50 < s.loc["ES", "ci_high"]
    assert harmonic_mean(0.0, 50, 50) == 0.0


def test_summary_intervals_by_metric_kind():
    """A 0/100 rate gets the Wilson interval of its cases; an unbounded mean a bootstrap
    interval around it; the table shows "mean [low, high]" and n."""
    long = pd.DataFrame({"case_id": [1, 2, 3] * 2, "metric": ["NS"] * 3 + ["GE"] * 3,
                         "value": [100.0, 100.0, 0.0, 400.0, 500.0, 600.0]})
    s = summarize(long).set_index("metric")
    assert (s.loc["NS", "ci_low"], s.loc["NS", "ci_high"]) == pytest.approx(wilson(2, 3))
    assert s.loc["NS", "interval"] == "wilson" and s.loc["NS", "ci_high"] < 100     # not clipped at 100
    assert s.loc["GE", "interval"] in ("bca", "percentile")
    assert 400 <= s.loc["GE", "ci_low"] < 500 < s.loc["GE", "ci_high"]
    table = interval_table(long.assign(setting="x"), ["setting"], metrics=("NS", "GE"))
    lo, hi = wilson(2, 3)
    assert table.loc["x", "NS"] == f"66.7 [{lo:.1f}, {hi:.1f}]"


def test_generation_entropy_by_hand():
    text = "a b a b"          # bigrams: ab, ba, ab → H2 = 0.918…; trigrams: aba, bab → H3 = 1
    h2 = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert ngram_entropy(text, 2) == pytest.approx(h2)
    assert ngram_entropy(text, 3) == pytest.approx(1.0)
    assert generation_entropy(text) == pytest.approx((2 / 3 * h2 + 4 / 3 * 1.0) / 2)
    assert ngram_entropy("one", 3) == 0.0


def test_evaluate_is_long_format_with_params_and_missing_rs(tiny_gpt2):
    model, tok = tiny_gpt2
    df = evaluate(model, tok, [CASE], generation=True, gen_tokens=5, params={"method": "none", "seed": 0})
    assert list(df.columns[:3]) == ["case_id", "metric", "value"] and {"method", "seed"} <= set(df.columns)
    assert set(df.metric) == {"ES", "PS", "NS", "EM", "PM", "NM", "GE", "RS"}
    assert df.set_index("metric").loc["RS", "value"] != df.set_index("metric").loc["RS", "value"]  # NaN
    again = evaluate(model, tok, [CASE], generation=True, gen_tokens=5)
    assert again.set_index("metric").loc["GE", "value"] == df.set_index("metric").loc["GE", "value"]  # seeded


def test_generation_on_the_first_n_cases_only(tiny_gpt2):
    """generation=n: GE for the first n cases, NaN for the rest; the prompts of several
    cases sampled in one call give each case the mean over its own texts."""
    from editlib.evaluation.evaluate import _generation_prompts, generation_scores
    from editlib.evaluation.metrics.generation import generate, generation_entropy

    model, tok = tiny_gpt2
    cases = [CASE, {**CASE, "case_id": 8}, {**CASE, "case_id": 9}]
    df = evaluate(model, tok, cases, generation=2, gen_tokens=5)
    ge = df[df.metric == "GE"].set_index("case_id")["value"]
    assert ge.notna().tolist() == [True, True, False]
    prompts = _generation_prompts(CASE)
    texts = generate(model, tok, prompts * 2, max_new_tokens=5)      # both cases in one call
    n = len(prompts)
    by_hand = [100 * sum(map(generation_entropy, t)) / n for t in (texts[:n], texts[n:])]
    assert generation_scores(model, tok, cases[:2], gen_tokens=5) == pytest.approx(by_hand)
    assert ge.iloc[:2].tolist() == pytest.approx(by_hand)
    assert "GE" not in set(evaluate(model, tok, cases, generation=0).metric)


def test_batch_edits_asks_for_ge_on_the_first_n_cases_of_the_list():
    from editlib.experiments.drivers import _ge_count

    assert [_ge_count(50, start, 1) for start in (0, 49, 50, 199)] == [1, 1, 0, 0]   # single edits
    assert _ge_count(3, 2, 4) == 1 and _ge_count(3, 0, 4) == 3                        # a batch straddling n
    assert _ge_count(True, 5, 3) is True and _ge_count(False, 0, 3) is False


# ------------------------------------------------------------------ loading

def test_shared_counterfact_subset_loads_and_subsets_deterministically():
    cases = load_counterfact("counterfact_simple")
    assert len(cases) == 10_000
    c0 = cases[0]["requested_rewrite"]
    assert c0["prompt"] == "The mother tongue of {} is" and c0["target_true"]["str"] == "French"
    a = subset(cases, n=50, seed=5)
    assert [c["case_id"] for c in a] == [c["case_id"] for c in subset(cases, n=50, seed=5)]
    assert [c["case_id"] for c in a] != [c["case_id"] for c in subset(cases, n=50, seed=6)]
    subjects = [c["requested_rewrite"]["subject"].lower() for c in load_cases("counterfact_simple", n=500, seed=1)]
    assert len(set(subjects)) == 500


def test_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITLIB_DATA", str(tmp_path))
    monkeypatch.setenv("EDITLIB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_counterfact("counterfact_simple")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_counterfact(str(tmp_path / "nope.json"))


def test_malformed_record_names_the_case_and_field(tmp_path):
    bad = [dict(CASE), {**CASE, "case_id": 99,
                        "requested_rewrite": {**CASE["requested_rewrite"], "target_new": {"str": ""}}}]
    path = tmp_path / "cf.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"case 99: field 'requested_rewrite.target_new.str'"):
        load_counterfact(str(path))
    path.write_text(json.dumps([{"case_id": 5, "prompt": "The capital of Spain is", "subject": "France",
                                 "target_new": "Rome", "ground_truth": "Paris"}]))
    with pytest.raises(DatasetError, match="case 5: field 'prompt'"):
        load_counterfact(str(path))


def test_embedded_fact_set_is_counterfact_shaped_and_seeded():
    records = embedded_counterfact()
    assert len(records) > 2000
    assert {r["requested_rewrite"]["relation_id"] for r in records} == {"P17", "P30", "P37", "P38"}
    for r in subset(records, n=100, seed=0):
        rr = r["requested_rewrite"]
        assert rr["target_new"]["str"] != rr["target_true"]["str"]
        assert len(r["paraphrase_prompts"]) >= 2 and len(r["neighborhood_prompts"]) >= 5
        assert all(rr["subject"] in p for p in r["paraphrase_prompts"])
        assert r["generation_prompts"]
    france = [r for r in records if r["requested_rewrite"]["subject"] == "France"
              and r["requested_rewrite"]["relation_id"] == "P37"]
    assert france and france[0]["requested_rewrite"]["target_true"]["str"] == "French"
    ids = [r["case_id"] for r in subset(records, 10, seed=2)]
    assert ids == [r["case_id"] for r in subset(embedded_counterfact(), 10, seed=2)]


# ------------------------------------------------------------------ real model

@pytest.mark.slow
def test_smollm2_scores_before_and_after_a_rome_edit(smollm2):
    model, tok = smollm2
    cases = load_cases("embedded", n=40, seed=0)
    pre = summarize(evaluate(model, tok, cases)).set_index("metric")["mean"]
    assert pre["ES"] < 50                       # it prefers the true object more often than not
    shared = summarize(evaluate(model, tok, load_cases("counterfact_simple", n=40, seed=0))).set_index("metric")["mean"]
    print(f"unedited SmolLM2: embedded ES {pre['ES']:.1f}; CounterFact subset ES {shared['ES']:.1f}")
    assert shared["ES"] < 50
    case = next(c for c in cases if probe_scores(model, tok, [c]).ES.iloc[0] == 0)
    editor = Editor(model, tok, method="rome", progress=False, mom2_n_tokens=20_000)
    with editor.edited([case]):
        post = evaluate(model, tok, [case]).set_index("metric")["value"]
    assert post["ES"] == 100


def test_zsre_loader_and_token_accuracy_by_hand(tiny_gpt2):
    from editlib.evaluation.data import load_zsre
    from editlib.evaluation.metrics.zsre import zsre_scores

    model, tok = tiny_gpt2
    cases = load_zsre("zsre_train1k")
    assert len(cases) == 1000
    rr = cases[0]["requested_rewrite"]
    assert rr["prompt"] == "What is the product made by {}?" and rr["target_new"]["str"] == "unmanned aircraft"
    row = zsre_scores(model, tok, cases[:1]).iloc[0]
    p = tok(rr["prompt"].format(rr["subject"])).input_ids
    t = tok(" " + rr["target_new"]["str"], add_special_tokens=False).input_ids
    with torch.no_grad():
        pred = model(torch.tensor([p + t])).logits[0].argmax(-1)
    hits = [int(pred[len(p) - 1 + k] == x) for k, x in enumerate(t)]
    assert row.efficacy == pytest.approx(100 * np.mean(hits))
    assert 0 <= row.paraphrase <= 100 and 0 <= row.specificity <= 100
