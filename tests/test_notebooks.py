"""Every notebook runs through papermill with tiny parameters and writes its table and
figures; no cell errors. The quickstart runs at its real size and its edits take."""
import json
import math

import nbformat
import pandas as pd
import pytest

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]
EXPECTED = {
    "01_objectives": (["case_id", "metric", "value", "model", "setting", "method", "layers", "seed", "hparams"],
                      ["scores", "objective"]),
    "02_edit_distribution": (["case_id", "metric", "value", "model", "method", "mode", "layers", "seed"], ["scores"]),
    "03_emmet_batch_size": (["case_id", "metric", "value", "model", "setting", "batch_size", "seed"],
                            ["scores", "mechanism"]),
    "04_sequential_editing": (["case_id", "metric", "value", "model", "setting", "n_edits", "scope", "seed"],
                              ["curves"]),
    "05_distribution_rules": (["case_id", "metric", "value", "model", "setting", "method", "layers", "seed", "hparams"],
                              ["windows", "shares", "cost"]),
    "06_disabling_edits": (["case_id", "metric", "value", "model", "setting", "method", "layers", "seed", "hparams",
                            "unedited_perplexity"], ["scatter"]),
}
SIDE_TABLE = {"04_sequential_editing": ("trajectory", {"weight_drift", "perplexity", "preservation_cost"}),
              "05_distribution_rules": ("diagnostics", {"share_realised", "share_norm", "value_miss", "rule",
                                                        "window"})}


@pytest.fixture(scope="module")
def executed(tiny_suite):
    return tiny_suite


@pytest.mark.parametrize("name", list(EXPECTED))
def test_notebook_outputs(executed, name):
    out, paths = executed
    nb_path = out / "executed" / f"{name}_smollm2-135m.ipynb"
    assert nb_path in paths
    nb = nbformat.read(nb_path, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    columns, figures = EXPECTED[name]
    table = pd.read_csv(out / f"{name}_smollm2-135m.csv")
    assert set(columns) <= set(table.columns)
    assert (table.profile == "tiny").all() and (table.split == "eval").all()       # the run is recorded
    assert table.hardware.iloc[0].startswith("CPU") and (table.wall_s > 0).all()
    run = table.iloc[0]                                  # ... and what can change its last digits
    assert run["device"] == "cpu" and run["dtype"] == "float32" and run["z_dtype"] in ("float32", "bfloat16")
    assert run["threads"] >= 1 and run["torch_version"] and run["transformers_version"] and run["editlib_version"]
    assert len(str(run["git_commit"])) == 40 or run["git_commit"] == "unknown"
    assert {"ES", "PS", "NS"} <= set(table.metric)
    assert table.value.notna().any()
    for fig in figures:
        for ext in ("png", "svg"):
            f = out / f"{name}_smollm2-135m_{fig}.{ext}"
            assert f.exists() and f.stat().st_size > 1000, f
    saved = list(out.glob(f"{name}_smollm2-135m_*.png"))
    shown = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(shown) == len(saved) >= len(figures)         # each figure shown in the notebook, as saved
    side, side_columns = SIDE_TABLE.get(name, ("diagnostics", {"relative_residual", "condition_number"}))
    diags = pd.read_csv(out / f"{name}_smollm2-135m_{side}.csv")
    assert {"preservation_cost"} | side_columns <= set(diags.columns)
    json.loads(table.hparams.dropna().iloc[-1])          # hyperparameters recorded with the results


def test_quickstart_edits_the_fact_with_every_method_and_restores_it(executed):
    out, paths = executed
    nb = nbformat.read(out / "executed" / "00_quickstart_smollm2-135m.ipynb", as_version=4)
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert nb.cells[-1].cell_type == "markdown" and nb.cells[-1].source.startswith("## How to read")
    said = pd.read_csv(out / "00_quickstart_smollm2-135m_continuations.csv").set_index("probe")
    scores = pd.read_csv(out / "00_quickstart_smollm2-135m_scores.csv")
    case = scores.case_id.iloc[0]
    new, true = _targets(case)
    assert said.loc["rewrite prompt", "unedited"].strip().startswith(true)       # a fact the model holds ...
    for method in ("rome", "memit", "emmet", "alphaedit"):
        assert said.loc["rewrite prompt", method].strip().startswith(new), method  # ... rewritten by each method
    assert said.loc["rewrite prompt", "rome"] == said.loc["rewrite prompt", "emmet"]   # one fact: EMMET is ROME
    es = scores[scores.metric == "ES"].set_index("setting").value
    assert es["unedited"] == 0 and (es.drop("unedited") == 100).all()
    diags = pd.read_csv(out / "00_quickstart_smollm2-135m_diagnostics.csv").set_index("method")
    assert diags.loc["rome", "preservation_cost"] == pytest.approx(diags.loc["emmet", "preservation_cost"], rel=1e-6)
    assert diags.loc["rome", "relative_residual"] < 1e-10 and diags.loc["memit", "relative_residual"] > 1e-4
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert "continuations after every restore equal the unedited ones: True" in text


def _targets(case_id):
    from editlib.evaluation.data import embedded_counterfact

    rw = next(c for c in embedded_counterfact() if c["case_id"] == case_id)["requested_rewrite"]
    return rw["target_new"]["str"], rw["target_true"]["str"]


def test_sequential_notebook_runs_encore_and_pairs_perplexity_window_by_window(executed):
    from editlib.experiments import get_experiment
    from editlib.suite.report import run_tables

    out, _ = executed
    tables = run_tables(out / "04_sequential_editing_smollm2-135m.csv")
    assert "ENCORE" in set(tables[""].setting)
    windows = tables["_windows"]
    assert set(windows.metric) == {"window NLL"} and windows.value.notna().all()
    claims = get_experiment("04").claims(tables)
    paired = claims[(claims.metric == "window NLL") & (claims.comparison == "ENCORE − MEMIT")]
    assert len(paired) == 1 and paired.n.iloc[0] == windows.case_id.nunique()
    ppl = tables["_trajectory"].groupby("setting").perplexity.last()      # the windows give the same perplexity
    nll = windows[windows.n_edits == windows.n_edits.max()].groupby("setting").value.mean()
    for setting in ("MEMIT", "ENCORE"):
        assert nll[setting] == pytest.approx(math.log(ppl[setting]), rel=0.05)
