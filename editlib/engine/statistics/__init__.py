"""What an edit preserves: the corpus and the second moments C0 of the rewrite modules' keys."""
