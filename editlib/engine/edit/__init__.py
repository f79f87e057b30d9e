"""An edit from end to end: the methods registry and configs, the settings and presets,
the Editor and the ledger that restores weights."""
