"""The tuning split: cases on which choices (a layer, MEMIT's λ, EMMET's ridge) are made,
kept apart from every case that is reported.

Each dataset's tuning split is the first ``TUNE_SIZE`` unique-subject cases of one fixed
shuffle (``TUNE_SEED``), whatever seed a report draws with. The report split ("eval") is
every other case whose subject is not a tuning subject (a reported case never shares even
its subject with a tuned one), drawn from the same seeded shuffle as "all".
Both numbers are recorded with every sweep's results.
"""
from __future__ import annotations

from ...base.errors import DatasetError
from .counterfact import subset

TUNE_SEED = 20240301        # fixed: the split must not move with a notebook's seed
TUNE_SIZE = 64              # ≥ 50 cases, enough to separate settings by a few points of S
SPLITS = ("eval", "tune", "all")


def _subject(case: dict) -> str:
    return case["requested_rewrite"]["subject"].strip().lower()


def tuning_cases(records: list[dict], size: int = TUNE_SIZE, seed: int = TUNE_SEED) -> list[dict]:
    """The dataset's tuning split (``size`` unique-subject cases, fixed seed)."""
    return subset(records, n=min(size, len(records)), seed=seed)


def tuning_subjects(records: list[dict], size: int = TUNE_SIZE, seed: int = TUNE_SEED) -> frozenset:
    return frozenset(_subject(c) for c in tuning_cases(records, size, seed))


def split_cases(records: list[dict], split: str = "eval", n: int | None = None, seed: int = 0,
                relations=None) -> list[dict]:
    """``n`` unique-subject cases of one split, drawn with ``seed``: "tune", "eval" (no
    tuning subject; drawn from the same shuffle as "all", skipping them) or "all"."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {SPLITS}")
    held = tuning_subjects(records) if split == "eval" else frozenset()
    try:
        if split == "tune":
            return subset(tuning_cases(records), n=n, seed=seed, relations=relations)
        return subset(records, n=n, seed=seed, relations=relations, exclude_subjects=held)
    except DatasetError as e:
        if split == "all" or "only" not in str(e):
            raise
        what = (f"the 'tune' split holds the first {TUNE_SIZE} unique subjects of a fixed shuffle" if split == "tune"
                else f"the 'eval' split leaves out the {excluded(records, held)} of {len(records)} cases whose subject "
                     f"is in the tuning split")
        raise DatasetError(f"{e} in split {split!r}: {what}; split='all' draws from every case") from None


def excluded(records: list[dict], held: frozenset) -> int:
    """How many of ``records`` the "eval" split leaves out (their subject is a tuning subject)."""
    return sum(_subject(c) in held for c in records)
