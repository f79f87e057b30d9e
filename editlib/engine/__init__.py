"""The edit engine: from an edit request to a rewritten weight, in the steps of an edit.

- ``model``: architectures (module-name templates), loading, hooks, the LM head, prompt
  encoding and fingerprints;
- ``targets``: edit requests, context templates, keys k and target values z (its settings,
  memory planning, optimisation and disk cache);
- ``statistics``: the corpus and the second moments C0 = K0K0ᵀ/n;
- ``algebra``: the solvers (K, R, C → Δ), the edit distribution over layers, preserved keys;
- ``edit``: the methods registry with its configs, the settings and presets, the
  :class:`~editlib.engine.edit.editor.Editor` that runs the steps in order, and the ledger
  that restores weights.
"""
