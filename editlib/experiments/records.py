"""What a notebook run writes: tables (CSV) that carry their run's provenance."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from ..base import precision
from ..base.cache import file_safe
from ..engine.model.architectures import input_device, model_devices
from .provenance import hardware, software


def slug(model_name: str) -> str:
    """A file-name-safe short name: "EleutherAI/gpt-j-6B" -> "gpt-j-6B"."""
    return file_safe(str(model_name).rstrip("/").split("/")[-1])


@dataclass
class RunRecord:
    """What every table of a notebook run carries: the profile, the data split, the
    hardware and the wall time from the start of the run to the table's writing, and what
    can change the last digits (:mod:`editlib.experiments.provenance`): the editlib, torch and
    transformers versions, the git commit with its dirty flag, torch's thread count, the
    device, the weights' dtype and the precision z was computed in (``"auto"`` resolved)."""

    profile: str
    split: str
    hardware: str
    started: float
    device: str = ""
    dtype: str = ""
    z_dtype: str = "float32"

    @classmethod
    def start(cls, profile: str, split: str, model, compute_dtype: str | None = None) -> RunRecord:
        """``compute_dtype``: the z precision the run asks for (its edit overrides'), as
        given; it is recorded as it resolves on this model's device."""
        import time

        devices = model_devices(model)
        names = Counter(hardware(d) for d in devices)                     # several under a device_map
        dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()})
        return cls(profile, split, " + ".join(n if k == 1 else f"{k} × {n}" for n, k in names.items()), time.time(),
                   device=" + ".join(str(d) for d in devices), dtype="+".join(dtypes),
                   z_dtype=precision.resolve(compute_dtype, input_device(model)) or "float32")

    def columns(self) -> dict:
        import time

        return {"profile": self.profile, "split": self.split, "hardware": self.hardware,
                "device": self.device, "dtype": self.dtype, "z_dtype": self.z_dtype, **software(),
                "wall_s": round(time.time() - self.started, 1)}


def save_table(df: pd.DataFrame, out_dir, name: str, record: RunRecord | None = None):
    from pathlib import Path

    path = Path(out_dir) / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    (df.assign(**record.columns()) if record else df).to_csv(path, index=False)
    return path
