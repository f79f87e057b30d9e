"""Evaluation: the datasets (CounterFact, zsRE), the metrics, scoring an edited model
(:func:`evaluate`) and the statistics of the scores."""
from .evaluate import evaluate, generation_scores
from .statistics import interval_table, summarize, summary_table

__all__ = ["evaluate", "generation_scores", "summarize", "summary_table", "interval_table"]
