"""The model: architectures described by module-name templates, loading (offline aliases,
the hub, tiny test models), forward hooks, the LM head, prompt encoding, fingerprints."""
