"""Every notebook runs through papermill with tiny parameters and writes its table and
figures; no cell errors."""
import json

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
}
SIDE_TABLE = {"04_sequential_editing": ("trajectory", {"weight_drift", "perplexity", "preservation_cost"})}


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
    assert {"ES", "PS", "NS"} <= set(table.metric)
    assert table.value.notna().any()
    for fig in figures:
        for ext in ("png", "svg"):
            f = out / f"{name}_smollm2-135m_{fig}.{ext}"
            assert f.exists() and f.stat().st_size > 1000, f
    side, side_columns = SIDE_TABLE.get(name, ("diagnostics", {"relative_residual", "condition_number"}))
    diags = pd.read_csv(out / f"{name}_smollm2-135m_{side}.csv")
    assert {"preservation_cost"} | side_columns <= set(diags.columns)
    json.loads(table.hparams.dropna().iloc[-1])          # hyperparameters recorded with the results
