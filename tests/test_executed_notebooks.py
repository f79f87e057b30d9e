"""The executed notebooks committed under figures/ name no path of the machine that ran
them and carry no progress-bar warnings; runs.tidy_notebook makes them so."""
import re
from pathlib import Path

import nbformat
import pytest

from editlib.suite.runs import ROOT, tidy_notebook

ABSOLUTE = re.compile(r"(?<![\w.~<>-])/(home|root|tmp|work|Users|usr|opt|var|mnt|private|srv|scratch)/")
COMMITTED = sorted((ROOT / "figures").rglob("*.ipynb"))


def _texts(nb):
    meta = nb.metadata.get("papermill", {})
    yield "metadata", f"{meta.get('input_path')} {meta.get('output_path')} {meta.get('parameters')}"
    for i, cell in enumerate(nb.cells):
        yield f"cell {i} source", cell.source
        for out in cell.get("outputs", []):
            yield f"cell {i} output", str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", "")) + \
                str(out.get("traceback", ""))


def test_there_are_committed_executed_notebooks():
    assert len(COMMITTED) >= 10


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebooks_hold_no_machine_paths(path):
    nb = nbformat.read(path, as_version=4)
    for where, text in _texts(nb):
        assert str(ROOT) not in text, f"{where}: names the checkout {ROOT}"
        hit = ABSOLUTE.search(text)
        assert hit is None, f"{where}: an absolute path {text[max(0, hit.start() - 40):hit.end() + 40]!r}"
        assert "TqdmWarning" not in text, f"{where}: tqdm fell back to text bars (ipywidgets missing)"
    assert not Path(nb.metadata["papermill"]["input_path"]).is_absolute()


def _images(nb) -> int:
    return sum("image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", []))


@pytest.mark.parametrize("path", sorted((ROOT / "figures" / "executed").glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_quick_notebooks_show_the_figures_they_saved(path):
    """Every figure a run saved beside its tables is also an image in its executed notebook."""
    from editlib.experiments import experiment_of

    saved = sorted(path.parents[1].glob(f"{path.stem}_*.png"))
    assert experiment_of(path.stem) is not None
    nb = nbformat.read(path, as_version=4)
    assert _images(nb) == len(saved)


def test_tidy_notebook_removes_this_machines_paths_and_keeps_results(tmp_path):
    import site

    pkgs = site.getsitepackages()[0]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f'out_dir = "{ROOT}/figures"', metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("print(1)", outputs=[
            nbformat.v4.new_output("stream", name="stderr", text=f"{pkgs}/tqdm/auto.py:21: TqdmWarning: IProgress "
                                                                  "not found.\n  from .autonotebook import tqdm as "
                                                                  "notebook_tqdm\n"),
            nbformat.v4.new_output("stream", name="stderr", text="z:  50%|#####     | 1/2\n"),
            nbformat.v4.new_output("stream", name="stderr", text="z: 100%|##########| 2/2\n"),
            nbformat.v4.new_output("stream", name="stdout", text=f"wrote {ROOT}/figures/t.csv; kept ../tmp/x\n"),
            nbformat.v4.new_output("execute_result", data={"text/plain": "S 86.4 [83.5, 89.2]"}, execution_count=1)])])
    nb.metadata["papermill"] = {"input_path": str(ROOT / "notebooks" / "01_objectives.ipynb"),
                                "output_path": str(ROOT / "figures" / "executed" / "x.ipynb"),
                                "parameters": {"out_dir": str(ROOT / "figures")}}
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    tidy_notebook(path, ROOT)
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.papermill.input_path == "notebooks/01_objectives.ipynb"
    assert nb.metadata.papermill.parameters["out_dir"] == "../figures"
    assert nb.cells[0].source == 'out_dir = "../figures"'
    outs = nb.cells[1].outputs
    assert [o.output_type for o in outs] == ["stream", "stream", "execute_result"]
    assert outs[0].text.strip() == "z: 100%|##########| 2/2"              # the last state of the bar
    assert outs[1].text == "wrote <repo>/figures/t.csv; kept ../tmp/x\n"   # a relative path is not touched
    assert outs[2].data["text/plain"] == "S 86.4 [83.5, 89.2]"
