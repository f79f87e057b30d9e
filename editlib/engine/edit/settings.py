"""The edit pipeline's settings (everything but the objective): where to edit, the target
values' optimisation, the context templates and the covariance statistics."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...base import checks
from ...base.errors import HyperparameterError
from ..algebra.distribute import RULES
from ..targets.keys import KEY_AVERAGES
from ..targets.z_settings import ZSettings


@dataclass
class EditHparams(ZSettings):
    """Everything but the objective. Fields of :class:`~editlib.engine.targets.z_settings.ZSettings` (target
    values) plus where to edit and how to collect statistics."""

    layers: list[int] = field(default_factory=list)       # edit layers, ascending
    context_template_lengths: tuple = ((10, 5),)          # (tokens, count) of generated prefixes
    template_seed: int = 0                                # seed of the prefix sampling
    mom2_dataset: str = "auto"                            # corpus for C0 (see editlib.engine.statistics.corpus)
    mom2_n_tokens: int = 50_000                           # tokens of that corpus
    mom2_seq_len: int = 128                               # window length when collecting C0
    mom2_dtype: str | None = None                         # autocast dtype for C0's forward passes
    # Conventions (see the methods' ``conventions``): where z lives and δ is added (None:
    # the architecture's), and how keys are averaged over the context templates.
    value_site: str | None = None                         # None, "block" or "rewrite"
    key_average: str = "half_plain"                       # ½ plain + ½ prefixed, or "uniform"
    # How an edit is spread over several layers (editlib.engine.algebra.distribute): a rule's
    # name, and the joint solves of "optimal_recompute".
    distribution: str = "memit"
    distribution_rounds: int = 2

    def __post_init__(self):
        super().__post_init__()
        checks.choice("value_site", self.value_site, (None, "block", "rewrite"))
        checks.choice("key_average", self.key_average, KEY_AVERAGES)
        checks.choice("distribution", self.distribution, tuple(RULES))
        checks.number("distribution_rounds", self.distribution_rounds, low=1, integer=True)
        if isinstance(self.layers, (str, bytes)) or not hasattr(self.layers, "__iter__"):
            raise HyperparameterError(f"layers must be a list of layer indices, not {self.layers!r}")
        try:
            pairs = [tuple(p) for p in self.context_template_lengths]
        except TypeError:
            pairs = [()]
        if not all(len(p) == 2 for p in pairs):
            raise HyperparameterError("context_template_lengths must be (tokens, count) pairs, got "
                                      f"{self.context_template_lengths!r}")
        for length, count in pairs:
            checks.number("context_template_lengths: tokens", length, low=1, integer=True)
            checks.number("context_template_lengths: count", count, low=0, integer=True)
        checks.number("template_seed", self.template_seed, integer=True)
        if not isinstance(self.mom2_dataset, str) or not self.mom2_dataset:
            raise HyperparameterError(f"mom2_dataset must be a corpus name or path, not {self.mom2_dataset!r}")
        checks.number("mom2_n_tokens", self.mom2_n_tokens, low=1, integer=True)
        checks.number("mom2_seq_len", self.mom2_seq_len, low=8, integer=True)   # shorter windows are skipped
        checks.dtype_name("mom2_dtype", self.mom2_dtype)
