"""Profiles are data: each names parameters the notebooks really have, the paper profile
is sized to resolve the findings, and the tuning split never meets a reported case."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from editlib.base.errors import DatasetError, HyperparameterError
from editlib.engine.edit.presets import load_preset
from editlib.evaluation.data import TUNE_SIZE, embedded_counterfact, load_cases, split_cases
from editlib.experiments.experiment import LIGHT_Z
from editlib.suite import reproduce
from editlib.suite.profiles import PROFILES, get_profile
from editlib.suite.reproduce import DEFAULT_MODELS, NOTEBOOKS
from editlib.suite.runs import ROOT, notebook_parameters


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("model", DEFAULT_MODELS)
def test_profile_names_only_real_parameters(profile, model):
    for key, name in NOTEBOOKS.items():
        params = get_profile(profile).parameters(key, model)
        unknown = set(params) - set(notebook_parameters(name))
        assert not unknown, f"{profile} sets {unknown} that {name} does not have (papermill would ignore them)"
        assert params["profile"] == profile


@pytest.mark.parametrize("model", DEFAULT_MODELS)
def test_paper_profile_resolves_the_findings(model):
    d_k = load_preset(model).d_k
    paper = get_profile("paper")
    nb03 = notebook_parameters("03", model, "paper")
    assert max(nb03["batch_sizes"]) > d_k                  # past the key width: μ = 0 must turn singular
    assert max(nb03["cond_batch_sizes"]) > d_k
    assert nb03["scored"] >= 64
    assert nb03["n_cases"] >= max(nb03["batch_sizes"])     # the largest batch is written whole
    assert {"memit", "emmet_ridge", "emmet_mu0"} <= set(nb03["settings"])
    for key in ("01", "02"):
        params = notebook_parameters(key, model, "paper")
        assert params["n_cases"] >= 200
    nb04 = notebook_parameters("04", model, "paper")
    assert nb04["batch_size"] * nb04["n_batches"] >= 2000           # thousands of sequential edits
    assert nb04["retention"] >= 64 and nb04["scored"] >= 32
    for key in NOTEBOOKS:
        params = paper.parameters(key, model)
        assert params["split"] == "eval" and params["dataset"] != "embedded"


def test_quick_sequential_runs_fit_a_cpu_and_the_paper_run_keeps_float32_z():
    for model in DEFAULT_MODELS:
        nb04 = notebook_parameters("04", model, "quick")
        assert nb04["batch_size"] * nb04["n_batches"] == 24
        # bfloat16 z only where that pays (editlib.base.precision.resolve)
        assert nb04["edit_overrides"] == {**LIGHT_Z, "compute_dtype": "auto"} and nb04["retention_every"] == 1
        assert notebook_parameters("04", model, "paper")["edit_overrides"] == LIGHT_Z


def test_quick_profile_is_the_notebooks_defaults():
    assert get_profile("quick").parameters("01", "smollm2-135m") == {"profile": "quick"}
    assert reproduce.default_out("quick") == Path("figures")                 # under the current directory
    assert reproduce.default_out("paper") == Path("figures") / "paper"
    with pytest.raises(HyperparameterError, match="unknown profile 'fast'"):
        get_profile("fast")


def test_run_merges_profile_then_overrides(monkeypatch, tmp_path):
    import papermill

    seen = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, parameters, **kw: seen.append(parameters))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDITLIB_DATA", "../data")         # relative: the kernels would resolve it in notebooks/
    reproduce.run(["smollm2-135m"], ["03_emmet_batch_size"], tmp_path, {"scored": 8}, profile="paper")
    (params,) = seen
    assert params["profile"] == "paper" and params["dataset"] == "counterfact_simple"
    assert params["batch_sizes"][-1] == 2048 and params["n_cases"] == 2048     # SmolLM2's own sizes
    assert params["scored"] == 8                                                 # -p wins
    assert params["out_dir"] == os.path.relpath(tmp_path.resolve(), ROOT / "notebooks")   # as the kernel sees it
    assert os.environ["EDITLIB_DATA"] == str((tmp_path / "../data").resolve())


def test_tuple_parameters_reach_the_notebook_as_lists(monkeypatch, tmp_path):
    """papermill writes a tuple as its string: -p settings "[('mine', 'memit', {})]" must
    arrive as lists that the experiment can unpack."""
    import papermill

    from editlib.experiments import get_experiment

    seen = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, parameters, **kw: seen.append(parameters))
    value = reproduce._value("['memit', ('mine', 'memit', {'mu': (0.0,)})]")
    reproduce.run(["smollm2-135m"], ["04"], tmp_path, {"settings": value}, profile="tiny")
    assert seen[0]["settings"] == ["memit", ["mine", "memit", {"mu": [0.0]}]]
    from papermill.translators import PythonTranslator
    assert "'mine'" not in PythonTranslator.translate(seen[0]["settings"])   # not a quoted tuple
    memit, mine = get_experiment("04").settings(seen[0])
    assert (memit.label, mine.label, mine.key, mine.method) == ("MEMIT", "mine", "mine", "memit")
    assert mine.overrides["mu"] == [0.0] and mine.overrides["v_num_grad_steps"] == 4     # the run's overrides under it


def _subjects(cases):
    return {c["requested_rewrite"]["subject"].strip().lower() for c in cases}


def test_tuning_split_is_disjoint_and_fixed():
    records = embedded_counterfact()
    tune = split_cases(records, "tune")
    assert len(tune) == TUNE_SIZE >= 50
    assert _subjects(tune).isdisjoint(_subjects(split_cases(records, "eval", n=3000, seed=0)))
    assert _subjects(tune).isdisjoint(_subjects(split_cases(records, "eval", n=500, seed=7)))
    # fixed whatever seed a report uses; a seed only reorders the tuning cases
    assert {c["case_id"] for c in split_cases(records, "tune", seed=5)} == {c["case_id"] for c in tune}
    # "eval" draws from the same shuffle as "all", only skipping tuning subjects
    held = _subjects(tune)
    drawn = [c["case_id"] for c in split_cases(records, "all", n=400, seed=3) if not _subjects([c]) & held]
    assert [c["case_id"] for c in split_cases(records, "eval", n=300, seed=3)] == drawn[:300]
    with pytest.raises(DatasetError, match="unknown split 'test'"):
        load_cases("embedded", n=2, split="test")


def test_tuning_split_of_counterfact():
    tune = load_cases("counterfact_simple", split="tune")
    report = load_cases("counterfact_simple", n=3072, seed=0)       # what the paper profile reports
    assert len(tune) >= 50 and _subjects(tune).isdisjoint(_subjects(report))


def test_run_line_of_a_table_merged_from_shards_on_different_hardware():
    from editlib.suite.report import run_line

    gpu = {"profile": "paper", "hardware": "GPU", "threads": np.nan, "wall_s": 303.0}
    table = pd.DataFrame([gpu, {**gpu, "wall_s": 300.0}, {**gpu, "hardware": "CPU", "threads": 1.0, "wall_s": 6225.0}])
    assert run_line(table) == ("profile paper; hardware GPU / CPU; threads 1; "
                               "notebook wall time 303 s / 300 s / 6,225 s (shards)")
    assert run_line(table.iloc[:1]) == "profile paper; hardware GPU; notebook wall time 303 s"


def test_report_prints_interval_tables_and_refused_solves(tmp_path):
    from editlib.evaluation.statistics import wilson
    from editlib.suite.report import notebook_tables

    rows = [{"case_id": c, "metric": m, "value": v, "setting": "EMMET", "batch_size": 4, "profile": "paper",
             "hardware": "CPU: x, 2 cores", "wall_s": 12.0}
            for c, (es, ns) in enumerate([(100.0, 100.0), (100.0, 0.0)])
            for m, v in (("ES", es), ("PS", es), ("NS", ns))]
    pd.DataFrame(rows).to_csv(tmp_path / "03_emmet_batch_size_m.csv", index=False)
    pd.DataFrame([{"setting": "EMMET (μ = 0)", "batch_size": 8, "error": "singular"}]).to_csv(
        tmp_path / "03_emmet_batch_size_m_diagnostics.csv", index=False)
    table, refused = notebook_tables(tmp_path)
    assert "profile paper; hardware CPU: x, 2 cores; notebook wall time 12 s" in table
    lo, hi = wilson(1, 2)                                                  # NS: 1 of 2 cases
    assert "| EMMET | 4 | 75.0 [" in table and f"| 50.0 [{lo:.1f}, {hi:.1f}] |" in table    # S = H(100, 100, 50)
    assert "| EMMET (μ = 0) | 8 | singular |" in refused


def test_report_reads_compressed_sequential_tables_at_the_last_batch(tmp_path):
    from editlib.suite.report import notebook_tables

    rows = [{"case_id": c, "metric": "ES", "value": v, "setting": "MEMIT", "scope": "retention", "n_edits": n,
             "profile": "paper", "hardware": "NVIDIA H100 80GB HBM3", "wall_s": 300.0}
            for n, values in ((100, (100.0, 100.0)), (200, (100.0, 0.0))) for c, v in enumerate(values)]
    pd.DataFrame(rows).to_csv(tmp_path / "04_sequential_editing_m.csv.gz", index=False)
    pd.DataFrame([{"setting": "MEMIT", "n_edits": 200}]).to_csv(tmp_path / "04_sequential_editing_m_trajectory.csv")
    (table,) = notebook_tables(tmp_path)
    assert table.startswith("**04_sequential_editing_m** (profile paper; hardware NVIDIA H100 80GB HBM3")
    assert "| MEMIT | retention | 50.0 [" in table         # n_edits 200 only, not the mean over both batches
