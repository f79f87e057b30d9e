"""Scoring (teacher forcing) and the papers' metrics, kept apart from the datasets."""
