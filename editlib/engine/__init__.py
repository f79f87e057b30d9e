"""The edit engine: from an edit request to a rewritten weight.

Architectures and loading, requests and prompts, keys and target values, covariance
statistics over a corpus, the solvers and the methods registry with its settings and
presets, the edit distribution over layers, the ledger that restores weights, and the
:class:`~editlib.engine.editor.Editor` that runs them in order.
"""
from . import tiny  # noqa: F401  (the tiny random test models register themselves with the loader)
