"""Sweeps that choose a preset's values (the edit layer, MEMIT's λ, EMMET's μ, AlphaEdit's α)
by measurement on the held-out tuning split, never on reported cases. Run from the
repository root: ``python -m tuning <sweep> --help``."""
