"""The statistics of reported numbers: the intervals' coverage on simulated data, the paired
comparison against scipy and by hand, the verdict rule, and unpaired input refused."""
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from editlib.evaluation.statistics import (
    UnpairedError,
    difference_of_differences,
    holm,
    interval,
    paired_difference,
    score_interval,
    summarize,
    verdict,
    wilson,
)


def long(values: dict[str, list[float]], ids=None) -> pd.DataFrame:
    rows = []
    for metric, vs in values.items():
        for i, v in zip(ids or range(len(vs)), vs):
            rows.append({"case_id": i, "metric": metric, "value": v})
    return pd.DataFrame(rows)


def test_wilson_by_hand():
    """n = 10, all successes: [72.2, 100], not the [100, 100] of a normal interval."""
    lo, hi = wilson(10, 10)
    assert lo == pytest.approx(100 * 10 / (10 + 1.959964 ** 2), abs=0.01) and hi == pytest.approx(100)
    assert interval([100.0] * 10, "ES")[:2] == pytest.approx((lo, hi)) and interval([100.0] * 10, "ES")[2] == "wilson"
    p, n, z = 0.3, 20, stats.norm.ppf(0.975)               # the formula, at 6 of 20
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson(6, 20) == pytest.approx((100 * (centre - half), 100 * (centre + half)))


def test_wilson_coverage_where_its_level_holds():
    """2,000 samples of n = 200 at p = 0.9: coverage near 95 % (the exact figure is 0.956)."""
    rng = np.random.default_rng(1)
    hits = 0
    for k in rng.binomial(200, 0.9, size=2000):
        lo, hi = wilson(int(k), 200)
        hits += lo <= 90 <= hi
    assert 0.93 <= hits / 2000 <= 0.97


def test_bca_coverage_of_a_skewed_mean():
    """400 samples of n = 200 per-case means over 4 prompts (p = 0.8 each, so in steps of 25):
    the BCa interval of the mean covers the true mean 80 about 95 % of the time."""
    rng = np.random.default_rng(2)
    hits = 0
    for s in range(400):
        v = 25.0 * rng.binomial(4, 0.8, size=200)
        lo, hi = _bca(v, s)
        hits += lo <= 80 <= hi
    assert 0.92 <= hits / 400 <= 0.975


def _bca(v, seed):
    from editlib.evaluation.statistics import _bootstrap

    lo, hi, _ = _bootstrap(lambda i: v[i].mean(axis=-1), len(v), seed, resamples=999)
    return lo, hi


def test_which_interval_each_metric_gets():
    assert interval([100, 0, 100, 100], "ES")[2] == "wilson"
    assert interval([100, 50, 100, 0], "PS")[2] == "bca"
    assert interval([12.5, -3.0, 40.0, 7.5], "EM")[2] == "bca"
    assert interval([50.0, 50.0, 50.0], "NS") == (50.0, 50.0, "constant")
    assert interval([100.0], "ES")[2] == "none"
    parts = np.array([[100, 100, 80], [100, 50, 90], [0, 50, 100], [100, 100, 70]], float)
    lo, hi, how = score_interval(parts)
    s = 3 / (1 / 75 + 1 / 75 + 1 / 85)
    assert how == "bca" and lo < s < hi
    assert score_interval(np.full((10, 3), 100.0))[:2] == pytest.approx(wilson(10, 10))


def test_summary_is_seeded_and_says_which_interval():
    df = long({"ES": [100, 0, 100, 100, 100], "PS": [100, 50, 100, 0, 50], "NS": [90, 80, 100, 70, 60]})
    a, b = summarize(df), summarize(df)
    pd.testing.assert_frame_equal(a, b)
    s = a.set_index("metric")
    assert s.loc["ES", "interval"] == "wilson" and s.loc["PS", "interval"] == "bca"
    assert s.loc["S", "mean"] == pytest.approx(3 / (1 / 80 + 1 / 60 + 1 / 80))


# ------------------------------------------------------------------ paired

def test_the_permutation_p_value_by_hand_and_as_scipy_gives_it():
    """Six cases: the exact sign-flip p-value, counted over all 2⁶ swaps, and scipy's."""
    a = [100.0, 100.0, 100.0, 0.0, 100.0, 100.0]
    b = [0.0, 0.0, 100.0, 0.0, 0.0, 100.0]
    res = paired_difference(long({"ES": a}), long({"ES": b}), "ES")
    d = np.subtract(a, b)
    observed = abs(d.mean())
    flips = [abs((d * np.array(s)).mean()) for s in itertools.product([1, -1], repeat=len(d))]
    by_hand = np.mean([f >= observed - 1e-12 for f in flips])
    assert res["p_value"] == pytest.approx(by_hand)                 # 0.25: three cases differ
    ref = stats.permutation_test((np.array(a), np.array(b)), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                                 permutation_type="samples", vectorized=True, alternative="two-sided")
    assert res["p_value"] == pytest.approx(ref.pvalue)
    assert res["difference"] == pytest.approx(50.0) and res["n"] == 6


def test_paired_interval_and_verdict_on_a_clear_difference():
    rng = np.random.default_rng(3)
    b = rng.uniform(0, 60, size=80)
    a = b + 20 + rng.normal(0, 5, size=80)
    res = paired_difference(long({"EM": list(a)}), long({"EM": list(b)}), "EM")
    assert res["ci_low"] < res["difference"] < res["ci_high"] and res["ci_low"] > 15
    assert res["verdict"] == "A > B" and res["p_value"] < 0.001
    flipped = paired_difference(long({"EM": list(b)}), long({"EM": list(a)}), "EM")
    assert flipped["verdict"] == "A < B"


def test_paired_score_difference():
    a = long({"ES": [100] * 6, "PS": [100, 50, 100, 100, 50, 100], "NS": [80, 90, 70, 80, 90, 60]})
    b = long({"ES": [100] * 6, "PS": [100, 50, 100, 100, 50, 100], "NS": [60, 70, 50, 60, 70, 40]})
    res = paired_difference(a, b, "S")
    hm = lambda *m: 3 / sum(1 / x for x in m)                        # noqa: E731
    assert res["difference"] == pytest.approx(hm(100, 250 / 3, 470 / 6) - hm(100, 250 / 3, 350 / 6))
    assert res["verdict"] == "A > B"


def test_difference_of_differences_by_hand_and_its_verdict():
    """(A − B on one model's cases) − (A − B on another's): the point estimate by hand, a
    clear effect resolved, the samples swapped flips it, and equal effects are not resolved."""
    rng = np.random.default_rng(5)
    b1, b2 = rng.uniform(0, 60, size=50), rng.uniform(20, 80, size=35)
    a1, a2 = b1 + 10 + rng.normal(0, 3, size=50), b2 + rng.normal(0, 3, size=35)
    res = difference_of_differences(long({"EM": list(a1)}), long({"EM": list(b1)}),
                                    long({"EM": list(a2)}), long({"EM": list(b2)}), "EM")
    assert res["difference"] == pytest.approx((a1 - b1).mean() - (a2 - b2).mean(), rel=1e-12)
    assert (res["a_mean"], res["b_mean"]) == pytest.approx(((a1 - b1).mean(), (a2 - b2).mean()))
    assert (res["n"], res["n_a"], res["n_b"]) == (85, 50, 35)
    assert res["ci_low"] > 7 and res["ci_high"] < 13 and res["verdict"] == "A > B" and res["p_value"] < 0.001
    swapped = difference_of_differences(long({"EM": list(a2)}), long({"EM": list(b2)}),
                                        long({"EM": list(a1)}), long({"EM": list(b1)}), "EM")
    assert swapped["difference"] == pytest.approx(-res["difference"]) and swapped["verdict"] == "A < B"
    same = difference_of_differences(long({"EM": list(a1)}), long({"EM": list(b1)}),
                                     long({"EM": list(b2 + 10 + rng.normal(0, 3, size=35))}), long({"EM": list(b2)}),
                                     "EM")
    assert same["ci_low"] < 0 < same["ci_high"] and same["verdict"] == "no difference resolved"
    # S: the harmonic means' differences, each model's cases on their own
    a = long({"ES": [100] * 6, "PS": [100, 50, 100, 100, 50, 100], "NS": [80, 90, 70, 80, 90, 60]})
    b = long({"ES": [100] * 6, "PS": [100, 50, 100, 100, 50, 100], "NS": [60, 70, 50, 60, 70, 40]})
    s = difference_of_differences(a, b, b, b, "S")
    assert s["difference"] == pytest.approx(paired_difference(a, b, "S")["difference"]) and s["b_mean"] == 0


@pytest.mark.parametrize("row, expected", [
    ({"n": 1, "ci_low": np.nan, "ci_high": np.nan, "interval": "none", "difference": 5.0, "p_value": np.nan},
     "too few cases"),
    ({"n": 30, "ci_low": 0.0, "ci_high": 0.0, "interval": "constant", "difference": 0.0, "p_value": 1.0},
     "equal on every case"),
    ({"n": 30, "ci_low": 0.5, "ci_high": 3.0, "interval": "bca", "difference": 1.7, "p_value": 0.01}, "A > B"),
    ({"n": 30, "ci_low": -3.0, "ci_high": -0.1, "interval": "bca", "difference": -1.2, "p_value": 0.03}, "A < B"),
    ({"n": 30, "ci_low": -1.0, "ci_high": 2.0, "interval": "bca", "difference": 0.4, "p_value": 0.6},
     "no difference resolved"),
    ({"n": 30, "ci_low": 0.0, "ci_high": 2.0, "interval": "bca", "difference": 0.9, "p_value": 0.04},
     "no difference resolved"),                                        # the interval touches 0
    ({"n": 200, "ci_low": 0.5, "ci_high": 5.5, "interval": "bca", "difference": 2.5, "p_value": 0.125},
     "no difference resolved"),                                        # the two disagree: not resolved
])
def test_the_verdict_rule(row, expected):
    assert verdict(row) == expected


def test_holm_by_hand():
    """m = 4 (the NaN is no test): sorted 0.01, 0.02, 0.03, 0.5 → ×4, ×3, ×2, ×1 = 0.04, 0.06,
    0.06, 0.5, each at least the one before it, back in the input's order."""
    np.testing.assert_allclose(holm([0.03, 0.5, np.nan, 0.01, 0.02]), [0.06, 0.5, np.nan, 0.04, 0.06])
    np.testing.assert_allclose(holm([0.4, 0.3]), [0.6, 0.6])               # monotone: 2 × 0.3, then max(0.6, 0.4)
    np.testing.assert_allclose(holm([0.9, 0.8]), [1.0, 1.0])               # capped at 1
    assert holm([]).shape == (0,) and np.isnan(holm([np.nan])).all()


def test_the_verdict_reads_the_adjusted_p():
    row = {"n": 30, "ci_low": 0.5, "ci_high": 3.0, "interval": "bca", "difference": 1.7, "p_value": 0.01}
    assert verdict(row) == "A > B"
    assert verdict({**row, "p_adjusted": 0.06}) == "no difference resolved"


def test_claims_are_adjusted_within_each_finding_model_profile_and_metric():
    """Three comparisons on one run: each metric's raw p-values are Holm-adjusted together,
    and a difference whose raw p is below 0.05 but whose adjusted p is not is unresolved."""
    from editlib.experiments.claims import adjusted

    def claim(a, metric, p, model="m"):
        return {"notebook": "n", "model": model, "profile": "quick", "metric": metric, "a": a, "b": "B",
                "n": 30, "ci_low": 0.5, "ci_high": 3.0, "interval": "bca", "difference": 1.7, "p_value": p,
                "verdict": "A > B", "reading": f"{a} > B"}

    claims = pd.DataFrame([claim("A1", "S", 0.01), claim("A2", "S", 0.02), claim("A3", "S", 0.04),
                           claim("A1", "EM", 0.04), claim("A1", "S", 0.04, model="other")])
    out = adjusted(claims)
    np.testing.assert_allclose(out.p_adjusted, [0.03, 0.04, 0.04, 0.04, 0.04])
    assert list(out.verdict) == ["A > B"] * 5
    claims.loc[2, "p_value"] = 0.03
    claims.loc[1, "p_value"] = 0.026                      # 2 × 0.026 = 0.052: no longer resolved
    out = adjusted(claims)
    assert list(out.verdict[:3]) == ["A > B", "no difference resolved", "no difference resolved"]
    assert out.reading[1] == "no difference resolved" and list(out.columns).index("p_adjusted") == \
        list(out.columns).index("p_value") + 1


def test_few_discordant_cases_are_not_a_resolved_difference():
    """6 of 200 cases favour A and 1 favours B: the exact sign-flip p is 2 · 8/128 = 0.125, so
    the verdict stays unresolved whatever the bootstrap interval says."""
    a = long({"ES": [100.0] * 6 + [0.0] + [100.0] * 193})
    b = long({"ES": [0.0] * 6 + [100.0] + [100.0] * 193})
    res = paired_difference(a, b, "ES")
    assert res["p_value"] == pytest.approx(0.125, abs=0.01)
    assert res["verdict"] == "no difference resolved"


def test_ties_and_one_case_through_the_whole_path():
    same = long({"ES": [100, 0, 100]})
    assert paired_difference(same, same, "ES")["verdict"] == "equal on every case"
    one = paired_difference(long({"ES": [100]}), long({"ES": [0]}), "ES")
    assert one["n"] == 1 and one["verdict"] == "too few cases"


def test_unpaired_inputs_are_refused():
    a = long({"ES": [100, 0, 100]}, ids=[1, 2, 3])
    b = long({"ES": [100, 0, 100]}, ids=[1, 2, 4])
    with pytest.raises(UnpairedError, match="not scored on the same cases.*1 case ids only in A"):
        paired_difference(a, b, "ES")
    twice = pd.concat([a, a])
    with pytest.raises(UnpairedError, match="more than one"):
        paired_difference(twice, a, "ES")


# ------------------------------------------------------------------ claims, figures, the rendered tables

def _as_csv(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as it reads back from a CSV file (empty strings become NaN)."""
    import io

    return pd.read_csv(io.StringIO(df.to_csv(index=False)))


def _batch_run(tmp_path):
    """A notebook-03 run: MEMIT and EMMET (μ = 0) at batches 1 and 8 on 30 cases, EMMET far
    behind at 8, and EMMET's solve refused at 16."""
    rng = np.random.default_rng(0)
    rows = []
    for size in (1, 8):
        for setting, method in (("MEMIT", "memit"), ("EMMET (μ = 0)", "emmet")):
            behind = setting != "MEMIT" and size == 8
            for c in range(30):
                es = 0.0 if behind and c % 2 else 100.0
                for m, v in (("ES", es), ("PS", es), ("NS", 80.0), ("EM", (10.0 if behind else 60.0) + rng.normal())):
                    rows.append({"case_id": c, "metric": m, "value": v, "model": "m", "dataset": "d",
                                 "setting": setting, "method": method, "batch_size": size, "profile": "handmade"})
    for c in range(30):
        for m in ("ES", "PS", "NS", "EM"):
            rows.append({"case_id": c, "metric": m, "value": 100.0 if m != "EM" else 50.0, "model": "m", "dataset": "d",
                         "setting": "MEMIT", "method": "memit", "batch_size": 16, "profile": "handmade"})
    diags = pd.DataFrame([{"setting": s, "method": m, "batch_size": b, "layer": 3, "layers": "[3]",
                           "update_norm": 1.0 + b, "error": "singular" if (s, b) == ("EMMET (μ = 0)", 16) else None}
                          for s, m in (("MEMIT", "memit"), ("EMMET (μ = 0)", "emmet")) for b in (1, 8, 16)])
    cond = pd.DataFrame({"batch_size": [1, 8, 16, 32], "mu": 0.0, "condition_number": [1, 10, 1e3, 1e20], "d_k": 24})
    pd.DataFrame(rows).to_csv(tmp_path / "03_emmet_batch_size_m.csv", index=False)
    diags.to_csv(tmp_path / "03_emmet_batch_size_m_diagnostics.csv", index=False)
    cond.to_csv(tmp_path / "03_emmet_batch_size_m_conditioning.csv", index=False)


def test_batch_claims_name_the_first_resolved_batch_and_the_refused_solve(tmp_path):
    from editlib.experiments import get_experiment
    from editlib.suite.report import run_tables

    _batch_run(tmp_path)
    claims = get_experiment("03").claims(run_tables(tmp_path / "03_emmet_batch_size_m.csv"))
    em = claims[claims.metric == "EM"].set_index("batch_size")
    assert em.loc[1, "verdict"] == "no difference resolved" and em.loc[8, "verdict"] == "A < B"
    assert em.loc[16, "verdict"] == "refused (singular)" and em.loc[16, "n"] == 0
    assert (em.first_resolved_batch == 8).all()
    assert (em.first_below_batch == 8).all() and (em.d_k == 24).all()           # finding (c)'s onset ...
    assert em.first_below_over_d_k.iloc[0] == pytest.approx(8 / 24)              # ... as a fraction of d_k
    assert em.loc[8, "reading"] == "EMMET (μ = 0) < MEMIT"


def test_regenerate_draws_the_figures_writes_claims_and_renders_them(tmp_path):
    from editlib.suite.report import claims_markdown, regenerate, render_text, summary

    _batch_run(tmp_path)
    claims = regenerate(tmp_path, progress=lambda s: None)
    assert {p.name for p in tmp_path.glob("*.png")} == {f"03_emmet_batch_size_m_{k}.png"
                                                        for k in ("mechanism", "scores", "differences")}
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "claims.csv"), _as_csv(claims))
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- claims -->\nold numbers\n<!-- /claims -->\nafter\n")
    text = render_text(doc, claims, "all")
    assert "old numbers" not in text and claims_markdown(claims) in text and text.endswith("after\n")
    assert "| EMMET (μ = 0) − MEMIT | batch 16 | S | 0 | — | — | — | refused (singular) |" in text
    assert summary(claims).empty                        # the README's summary: the paper profile's rows only
    as_paper = claims.assign(profile="paper")
    assert claims_markdown(summary(as_paper)) in render_text(doc, as_paper, "summary")


def test_regenerate_compares_edit_distribution_across_models(tmp_path):
    """Finding (b)'s model dependence: one row per objective and metric, (spread − single on
    SmolLM2) − (spread − single on Gemma-3), whose parts are each model's own paired
    differences, adjusted as a family of its own."""
    import shutil

    from editlib.suite.report import ROOT, regenerate

    for model in ("smollm2-135m", "gemma3-270m"):
        for suffix in ("", "_diagnostics"):
            shutil.copy(ROOT / "figures" / f"02_edit_distribution_{model}{suffix}.csv", tmp_path)
    claims = regenerate(tmp_path, progress=lambda s: None)
    across = claims[claims.scope == "across models"].set_index(["comparison", "metric"])
    assert len(across) == 4 and set(across.model) == {"smollm2-135m vs gemma3-270m"}
    for method in ("memit", "emmet"):
        effect = f"({method} · spread − {method} · single)"
        for metric in ("S", "EM"):
            row = across.loc[(f"{effect}: smollm2-135m − gemma3-270m", metric)]
            own = {m: claims[(claims.model == m) & (claims.comparison == f"{method} · spread − {method} · single")
                             & (claims.metric == metric)].difference.iloc[0] for m in ("smollm2-135m", "gemma3-270m")}
            assert row.a_mean == pytest.approx(own["smollm2-135m"]) and row.b_mean == pytest.approx(own["gemma3-270m"])
            assert row.difference == pytest.approx(own["smollm2-135m"] - own["gemma3-270m"])
            assert np.isfinite(row.p_adjusted) and row.p_adjusted >= row.p_value
            assert row.n == 16 and (row.a, row.b) == ("smollm2-135m", "gemma3-270m")
            assert row.reading in ("no difference resolved", "smollm2-135m > gemma3-270m", "smollm2-135m < gemma3-270m")


def test_the_committed_claims_are_what_the_code_computes_and_what_the_docs_show():
    """figures/claims.csv is regenerated from its tables by code (one notebook checked here),
    and the README's and docs/statistics.md's claims tables are rendered from the CSVs."""
    from pathlib import Path

    from editlib.experiments import get_experiment
    from editlib.suite.report import ROOT, claims_markdown, run_tables, summary

    committed = pd.read_csv(ROOT / "figures" / "claims.csv")
    fresh = get_experiment("01").claims(run_tables(ROOT / "figures" / "01_objectives_smollm2-135m.csv"))
    mine = committed[(committed.notebook == "01_objectives") & (committed.model == "smollm2-135m")]
    pd.testing.assert_frame_equal(mine.reset_index(drop=True)[fresh.columns], _as_csv(fresh), check_dtype=False)
    both = pd.concat([committed, pd.read_csv(ROOT / "figures" / "paper" / "claims.csv")], ignore_index=True)
    assert claims_markdown(summary(both)) in Path(ROOT / "README.md").read_text()
    assert claims_markdown(both) in Path(ROOT / "docs" / "statistics.md").read_text()


def test_every_rendered_block_of_the_docs_is_what_the_committed_tables_give():
    """README, statistics, notebooks, performance and presets pages: their rendered blocks
    (claims, result tables, run times, tuning sweeps) equal what make report makes now."""
    from editlib.suite.report import FOLDERS, ROOT, rendered_pages

    claims = pd.concat([pd.read_csv(ROOT / f / "claims.csv") for f in FOLDERS], ignore_index=True)
    stale = [str(p.relative_to(ROOT)) for p, text in rendered_pages(claims).items() if p.read_text() != text]
    assert not stale, f"run make report: {stale}"
