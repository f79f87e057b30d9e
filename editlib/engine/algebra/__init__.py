"""The closed forms: solvers (K, R, C → Δ), the edit distribution over layers, and the
keys of earlier edits kept in the preserved term."""
