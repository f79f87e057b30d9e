"""The experiments the notebooks run, one module each, found through one registry
(:mod:`~editlib.experiments.experiment`): ``quickstart`` (00), ``objectives`` (01),
``distribution`` (02), ``batch_size`` (03), ``sequential`` (04), ``distribution_rules`` (05),
``disabling`` (06). Beside them: the drivers
that edit and score (``drivers``), the tables they write (``records``, ``provenance``), the
paired comparisons (``claims``) and the figures (``plots``)."""
from . import batch_size, disabling, distribution, distribution_rules, objectives, quickstart, sequential  # noqa: F401  (each registers itself)
from .drivers import Setting, batch_edits, edit_plan, key_conditioning, layer_sweep, sequential_edits, unedited
from .experiment import EXPERIMENTS, Experiment, Run, experiment_of, experiments, get_experiment, register
from .records import RunRecord, save_table, slug

__all__ = ["Setting", "unedited", "edit_plan", "batch_edits", "key_conditioning", "sequential_edits", "layer_sweep",
           "RunRecord", "save_table", "slug", "Experiment", "Run", "EXPERIMENTS", "experiments", "get_experiment",
           "experiment_of", "register"]
