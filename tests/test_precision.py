"""compute_dtype="auto": bfloat16 only where it is known to pay (CUDA with bfloat16, a CPU
with AMX), float32 elsewhere; the Editor and the run record keep the resolved name, never
"auto"."""
import pytest
import torch

from editlib import Editor
from editlib.base import precision
from editlib.engine.model.tiny import tiny_model
from editlib.experiments import RunRecord


@pytest.mark.parametrize("flags, expected", [({"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, "bfloat16"),
                                             ({"avx512f", "avx512_bf16"}, "float32"),   # measured slower there
                                             ({"fp", "asimd", "bf16"}, "float32"),
                                             ({"avx512f", "avx512_vnni"}, "float32"), (set(), "float32")])
def test_auto_on_a_cpu_picks_bfloat16_only_with_amx(monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    assert precision.resolve("auto", "cpu") == expected
    for given in (None, "float32", "tf32", "bfloat16"):          # an explicit choice is kept as given
        assert precision.resolve(given, "cpu") == given


def test_this_machines_flags_are_read(monkeypatch):
    flags = precision.cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo here")
    assert precision.native_bfloat16("cpu") == bool(flags & set(precision.CPU_BF16_FLAGS))


@pytest.mark.parametrize("native", [True, False])
def test_the_editor_and_the_run_record_hold_the_resolved_precision(monkeypatch, native):
    monkeypatch.setattr(precision, "native_bfloat16", lambda device: native)
    model, tok = tiny_model("llama")
    ed = Editor(model, tok, method="emmet", layers=[1], compute_dtype="auto", mom2_dtype="auto",
                mom2_dataset="model-samples", mom2_n_tokens=2000, use_cache=False, progress=False)
    want = "bfloat16" if native else "float32"
    assert ed.hparams.compute_dtype == want and ed.hparams.mom2_dtype == want
    record = RunRecord.start("tiny", "eval", model, "auto")
    cols = record.columns()
    assert cols["z_dtype"] == want and cols["device"] == "cpu" and cols["dtype"] == "float32"
    assert cols["threads"] == torch.get_num_threads()
    assert {"editlib_version", "torch_version", "transformers_version", "git_commit", "git_dirty"} <= set(cols)
    assert cols["torch_version"] == torch.__version__


def test_auto_is_a_valid_name_and_a_typo_is_not():
    from editlib.base.errors import HyperparameterError
    from editlib.engine.targets.z_settings import ZSettings

    assert ZSettings(compute_dtype="auto").compute_dtype == "auto"
    with pytest.raises(HyperparameterError, match="compute_dtype"):
        ZSettings(compute_dtype="bf16x")
