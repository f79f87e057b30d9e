"""editlib.suite.agreement: what two runs must share exactly (identity columns, ES/PS/NS per
case, refused solves) and what may differ by float32 rounding (magnitudes, diagnostics),
on constructed tables."""
import numpy as np
import pandas as pd
import pytest

from editlib.suite.agreement import ATOL, RTOL, assert_same_results, compare_runs, differences


def scores(em=-33.2981, es=0.0, threads=2, wall=10.0):
    return pd.DataFrame({"case_id": [1, 1, 2], "metric": ["ES", "EM", "ES"], "value": [es, em, 100.0],
                         "setting": ["memit"] * 3, "threads": threads, "wall_s": wall})


def test_rounding_in_a_magnitude_passes_and_is_measured():
    d = differences(scores(), scores(em=-33.2995, threads=1, wall=99.0))
    em = d[d.metric == "EM"].iloc[0]
    assert em.max_abs_diff == pytest.approx(0.0014) and em.max_rel_diff == pytest.approx(0.0014 / 33.2995)
    assert em.beyond_tolerance == 0                       # 4e-5 relative: within RTOL
    assert set(d.metric) == {"EM"}                        # ES is a decision: compared exactly, not measured


def test_a_flipped_decision_or_a_changed_identity_column_is_a_difference():
    with pytest.raises(AssertionError, match="identity columns and decisions"):
        differences(scores(es=0.0), scores(es=100.0))
    other = scores().assign(setting="emmet")
    with pytest.raises(AssertionError, match="identity columns and decisions"):
        differences(scores(), other)


def test_a_magnitude_beyond_rounding_is_counted_and_refused(tmp_path):
    far = -33.2981 * (1 + 10 * RTOL)
    d = differences(scores(), scores(em=far))
    assert d.loc[d.metric == "EM", "beyond_tolerance"].iloc[0] == 1
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    scores().to_csv(tmp_path / "a" / "t.csv", index=False)
    scores(em=far).to_csv(tmp_path / "b" / "t.csv", index=False)
    with pytest.raises(AssertionError, match="beyond rounding"):
        assert_same_results(tmp_path / "a", tmp_path / "b")


def test_round_off_residuals_compare_absolutely_and_missing_values_must_agree():
    a = pd.DataFrame({"relative_residual": [1.6e-16, 0.04], "error": [np.nan, np.nan]})
    b = pd.DataFrame({"relative_residual": [1.0e-16, 0.04], "error": [np.nan, np.nan]})
    d = differences(a, b)
    assert d.max_rel_diff.iloc[0] > 0.3 and d.beyond_tolerance.iloc[0] == 0      # 6e-17 < ATOL
    assert ATOL < 1e-3
    with pytest.raises(AssertionError, match="identity columns and decisions"):   # a refused solve in one run only
        differences(a, b.assign(error=["singular", np.nan]))
    with pytest.raises(AssertionError, match="missing"):
        differences(a, b.assign(relative_residual=[np.nan, 0.04]))


def test_runs_must_hold_the_same_tables(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    scores().to_csv(tmp_path / "a" / "t.csv", index=False)
    with pytest.raises(AssertionError, match="different tables"):
        compare_runs(tmp_path / "a", tmp_path / "b")
