"""What an edit writes: requests, context templates, the keys k at the rewrite module's
input and the target values z (settings, memory planning, optimisation, disk cache)."""
