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


def _folder(tmp, name, change_table=None, change_claims=None):
    """A figure folder holding one committed run (notebook 02, SmolLM2, quick) and its
    claims, optionally changed."""
    from editlib.suite.runs import ROOT

    folder = tmp / name
    folder.mkdir()
    table = pd.read_csv(ROOT / "figures" / "02_edit_distribution_smollm2-135m.csv")
    claims = pd.read_csv(ROOT / "figures" / "claims.csv")
    claims = claims[(claims.notebook == "02_edit_distribution") & (claims.model == "smollm2-135m")]
    (change_table or (lambda t: t))(table).to_csv(folder / "02_edit_distribution_smollm2-135m.csv", index=False)
    (change_claims or (lambda c: c))(claims).to_csv(folder / "claims.csv", index=False)
    return folder


def test_across_machines_the_same_folder_agrees(tmp_path):
    from editlib.suite.agreement import across_machines

    means, verdicts = across_machines(_folder(tmp_path, "a"), _folder(tmp_path, "b"))
    assert verdicts.same.all() and len(verdicts) > 0
    assert not means.moved.any() and (means.difference == 0).all()
    assert {"ES", "PS", "NS", "S", "EM", "PM", "NM"} <= set(means.metric)


def test_across_machines_a_moved_mean_or_a_changed_verdict_is_found(tmp_path):
    from editlib.suite.agreement import across_machines

    def lift(t):                                   # every case's EM of one setting 30 points higher
        hit = (t.setting == "memit · spread") & (t.metric == "EM")
        return t.assign(value=t.value.where(~hit, t.value + 30))

    def flip(c):
        return c.assign(verdict=c.verdict.where(c.index != c.index[0], "A > B"))

    means, verdicts = across_machines(_folder(tmp_path, "a"), _folder(tmp_path, "b", lift, flip))
    moved = means[means.moved]
    assert list(zip(moved.setting, moved.metric)) == [("memit · spread", "EM")]
    assert moved.difference.iloc[0] == pytest.approx(-30)
    assert (~verdicts.same).sum() == 1
