"""Experiments are declared units found through one registry: each notebook is one, its
parameters cell mirrors the declaration, nothing else in the package spells a notebook's
name or a setting's label, and a renamed label carries through claims and figures."""
import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from editlib.experiments import Setting, experiment_of, experiments, get_experiment
from editlib.experiments.experiment import TINY_Z
from editlib.suite.report import run_tables
from editlib.suite.runs import NOTEBOOKS, ROOT, parameters_cell

PACKAGE = ROOT / "editlib"


def test_every_notebook_is_one_registered_experiment():
    on_disk = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert on_disk == sorted(e.name for e in experiments()) == sorted(NOTEBOOKS.values())
    for e in experiments():
        assert get_experiment(e.key) is get_experiment(e.name) is e
        assert experiment_of(f"{e.name}_smollm2-135m") is e
    with pytest.raises(KeyError, match="no experiment '07'"):
        get_experiment("07")


@pytest.mark.parametrize("key", list(NOTEBOOKS))
def test_the_parameters_cell_is_the_declaration(key):
    """A notebook's parameters cell holds exactly the experiment's declared defaults."""
    assert parameters_cell(key) == get_experiment(key).defaults


@pytest.mark.parametrize("key", list(NOTEBOOKS))
def test_a_notebook_is_a_parameters_cell_then_calls_into_its_experiment(key):
    e = get_experiment(key)
    nb = json.loads((ROOT / "notebooks" / f"{e.name}.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert f'get_experiment("{e.name}")' in "\n".join(code)
    if e.claim_metrics:                           # an experiment with a finding: parameters, run, show
        assert len(code) == 3 and "experiment.run(" in code[1] and code[2].startswith("experiment.show(run)")


def _declarations() -> dict[str, set[Path]]:
    """Each notebook name and each catalogue label, with the modules that declare it."""
    out = {}
    for e in experiments():
        module = Path(__import__(type(e).__module__, fromlist=["_"]).__file__)
        out.setdefault(e.name, set()).add(module)
        for s in e.catalogue.values():
            out.setdefault(s.label, set()).add(module)
    return out


def test_no_module_but_its_own_spells_a_notebook_name_or_a_setting_label():
    """In code: a notebook name anywhere, a setting label as a string literal."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        for word, homes in _declarations().items():
            spelt = word in text if word[:2].isdigit() else re.search(rf"([\"']){re.escape(word)}\1", text)
            if spelt and path not in homes:
                bad.append(f"{path.relative_to(ROOT)} spells {word!r}")
        if re.search(r"notebook\s*==\s*[\"']0\d", text):
            bad.append(f"{path.relative_to(ROOT)} branches on a notebook name")
    assert bad == []


def _legend_and_tick_texts(fig) -> set[str]:
    texts = set()
    for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        texts |= {t.get_text() for t in legend.get_texts()}
    for ax in fig.axes:
        texts |= {t.get_text() for t in ax.get_yticklabels()}
    return texts


def test_a_renamed_setting_label_carries_through_claims_and_figures(monkeypatch):
    """Rename EMMET (μ = 0) in its experiment, run (here: relabel a committed run's tables as a
    run under the new label would write them): the claims compare the renamed setting with the
    same numbers, and the figures' legends and rows name it."""
    e = get_experiment("03")
    old = e.catalogue["emmet_mu0"]
    tables = run_tables(ROOT / "figures" / "03_emmet_batch_size_smollm2-135m.csv")
    before = e.claims(tables)
    monkeypatch.setitem(e.catalogue, "emmet_mu0", Setting("EMMET, no ridge", "emmet", overrides={"mu": 0.0},
                                                          key="emmet_mu0"))
    renamed = {k: t.replace({"setting": {old.label: "EMMET, no ridge"}}) if "setting" in t else t
               for k, t in tables.items()}
    after = e.claims(renamed)
    assert "EMMET, no ridge − MEMIT" in set(after.comparison) and old.label not in " ".join(after.comparison)
    same = ["metric", "batch_size", "n", "difference", "ci_low", "ci_high", "p_value", "verdict"]
    pd.testing.assert_frame_equal(before[same], after[same])
    figures = e.figures(renamed, after)
    try:
        texts = set().union(*(_legend_and_tick_texts(f) for f in figures.values()))
        assert "EMMET, no ridge" in texts
        assert any(t.startswith("EMMET, no ridge − MEMIT") for t in texts)      # the differences' rows
        assert not any(old.label in t for t in texts)
    finally:
        for f in figures.values():
            plt.close(f)


def test_unknown_settings_and_parameters_are_named(tmp_path):
    e = get_experiment("03")
    with pytest.raises(ValueError, match="no setting 'emmet_mu'.*memit, emmet_ridge, emmet_mu0"):
        e.settings({**e.defaults, "settings": ["memit", "emmet_mu"]})
    with pytest.raises(ValueError, match="has no parameter"):
        e.run(n_casez=3)


def test_an_experiment_runs_end_to_end_and_shows_its_figures(tmp_path, monkeypatch):
    """01 on the tiny random Llama: the run writes its tables and figures beside each other,
    reads its claims, and show() displays the figures it saved (as images in a notebook)."""
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, *a, **k: shown.append(obj))
    e = get_experiment("01")
    over = {**TINY_Z, "mom2_dataset": "model-samples", "mom2_n_tokens": 3000, "use_cache": False}
    run = e.run(model="tiny-llama", n_cases=3, methods=["rome", "memit"], layers=[1], generation=False,
                edit_overrides=over, out_dir=str(tmp_path))
    assert {p.name for p in tmp_path.glob("*.csv")} == {"01_objectives_tiny-llama.csv",
                                                         "01_objectives_tiny-llama_diagnostics.csv"}
    assert set(run.figures) == {"_scores", "_objective", "_differences"}
    assert all(p.exists() and p.with_suffix(".svg").exists() for p in run.figures.values())
    assert list(run.claims.comparison.unique()) == ["rome − memit"]
    assert set(run.tables[""].setting) == {"unedited", "rome", "memit"}
    e.show(run)
    images = [o for o in shown if type(o).__name__ == "Image"]
    assert len(images) == 3 and {Path(i.filename) for i in images} == set(run.figures.values())
