"""The settings of z's optimisation (:mod:`editlib.engine.targets.values`): steps, learning
rate, the KL and weight-decay terms, the norm clamp, the fact token, the precision of the
passes, and the two memory budgets that batch the work without changing any z."""
from __future__ import annotations

from dataclasses import dataclass

from ...base import checks
from ..model.prompts import FACT_TOKENS

KL_PROMPT = "{} is a"
MEMORY_BUDGETS = ("max_tokens", "group_tokens")     # settings that batch the work, not change z
Z_STOPS = ("loss", "most_probable")
# Settings added after z was first cached whose defaults reproduce the z computed before
# them: a cache key names them only when they differ from the default (editlib.engine.targets.z_cache).
KEYED_WHEN_SET = {"z_stop": "loss", "z_stop_count": 2}


@dataclass
class ZSettings:
    v_num_grad_steps: int = 20
    v_lr: float = 0.5
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 0.75
    kl_factor: float = 0.0625
    v_early_stop_loss: float = 0.05
    fact_token: str = "subject_last"
    max_tokens: int = 2048           # padded suffix tokens per forward/backward chunk (memory budget)
    group_tokens: int = 16384        # prompt tokens optimised at once (memory budget, see z_batches.groups)
    compute_dtype: str | None = None  # "bfloat16", "tf32"...: the passes' matmuls (see editlib.base.precision)
    # When a fact's optimisation stops, besides the step cap: "loss" (loss < v_early_stop_loss),
    # or "most_probable" (ENCORE's MPES: also once the target has been the argmax at every
    # target position of every rewriting prompt at z_stop_count steps; the loss stop still applies).
    z_stop: str = "loss"
    z_stop_count: int = 2

    def __post_init__(self):
        checks.number("v_num_grad_steps", self.v_num_grad_steps, low=1, integer=True)
        checks.number("v_lr", self.v_lr, low=0, strict=True)
        checks.number("v_weight_decay", self.v_weight_decay, low=0)
        checks.number("clamp_norm_factor", self.clamp_norm_factor, low=0, strict=True)
        checks.number("kl_factor", self.kl_factor, low=0)
        checks.number("v_early_stop_loss", self.v_early_stop_loss, low=0)
        checks.choice("fact_token", self.fact_token, FACT_TOKENS)
        checks.number("max_tokens", self.max_tokens, low=1, integer=True)
        checks.number("group_tokens", self.group_tokens, low=1, integer=True)
        checks.dtype_name("compute_dtype", self.compute_dtype)
        checks.choice("z_stop", self.z_stop, Z_STOPS)
        checks.number("z_stop_count", self.z_stop_count, low=1, integer=True)
