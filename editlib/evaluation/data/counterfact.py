"""CounterFact (Meng et al. 2022), and how any dataset file is found (zsRE too: zsre.py).

The published CounterFact format is primary::

    {"case_id": 0, "requested_rewrite": {"prompt": "The mother tongue of {} is",
     "subject": "Danielle Darrieux", "target_new": {"str": "English"},
     "target_true": {"str": "French"}, "relation_id": "P103"},
     "paraphrase_prompts": [...], "neighborhood_prompts": [...],
     "attribute_prompts": [...], "generation_prompts": [...]}

The simplified one-paraphrase form of the MEND/EasyEdit splits (``prompt`` with the
subject filled in, ``ground_truth``, ``rephrase_prompt``, ``locality_prompt``) is accepted
too and converted to it.

Files are found, in order: an explicit path; a data directory (``$EDITLIB_DATA``, then
``<cache>/data``); the file's pinned public location when the machine is online, checked
against its SHA-256 (:mod:`editlib.base.datafiles`).
"""
from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

from ...base.datafiles import FILES, Found, locate, where_looked
from ...base.errors import DatasetError

DATASETS = ("counterfact", "multi_counterfact", "counterfact_simple", "zsre", "zsre_train1k")


def find_file(name_or_path: str) -> Path:
    """Resolve a dataset name or path to a file, or raise saying where we looked."""
    return locate_dataset(name_or_path).path


def locate_dataset(name_or_path: str) -> Found:
    """A dataset name or path as a file on disk and where it came from
    (:func:`editlib.base.datafiles.locate`: ``$EDITLIB_DATA``, the cache, or its pinned
    download)."""
    if not isinstance(name_or_path, (str, Path)):
        raise DatasetError(f"a dataset is a name or a path, not {name_or_path!r}")
    p = Path(name_or_path).expanduser()
    name_or_path = str(name_or_path)
    if p.suffix in (".json", ".jsonl"):
        if p.is_file():
            return Found(p, "a file of your own")
        raise FileNotFoundError(f"dataset file {p} does not exist")
    if name_or_path not in DATASETS:
        if p.exists():
            raise DatasetError(f"dataset file {p}: expected a .json (a list of records) or .jsonl file")
        raise DatasetError(f"unknown dataset {name_or_path!r}; use a .json/.jsonl path or one of {sorted(DATASETS)}")
    spec = FILES[name_or_path]
    found = locate(spec.filename)
    if found is None:
        raise FileNotFoundError(
            f"{spec.filename} ({spec.what}) not found in {where_looked()}. Put the file in one of those folders, "
            f"set EDITLIB_DATA to a folder that holds it, pass its path, or go online to download it from {spec.url}.")
    return found


def _template(text: str, subject: str, where: str) -> str:
    """``text`` with the subject replaced by "{}": refused when the subject is not in it,
    and taken at its first occurrence with a warning when it occurs more than once
    ("Paris Hilton was born in Paris" for the subject "Paris")."""
    count = text.count(subject)
    if count == 0:
        raise DatasetError(f"{where} does not contain the subject {subject!r}")
    if count > 1:
        warnings.warn(f"{where}: the subject {subject!r} occurs {count} times in {text!r}; the edit is templated at "
                      "its first occurrence (give the prompt with '{}' where the subject is meant to be)",
                      stacklevel=4)
    return text.replace(subject, "{}", 1)


def _from_simple(d: dict, i: int) -> dict:
    for field in ("prompt", "subject", "target_new", "ground_truth"):
        if field not in d:
            raise DatasetError(f"case {d.get('case_id', i)}: missing field {field!r}")
    return {
        "case_id": d.get("case_id", i),
        "requested_rewrite": {"prompt": _template(d["prompt"], d["subject"], f"case {d.get('case_id', i)}: field "
                                                  "'prompt'"), "subject": d["subject"],
                              "target_new": {"str": d["target_new"]}, "target_true": {"str": d["ground_truth"]},
                              "relation_id": d.get("relation_id")},
        "paraphrase_prompts": [d["rephrase_prompt"]] if d.get("rephrase_prompt") else [],
        "neighborhood_prompts": [d["locality_prompt"]] if d.get("locality_prompt") else [],
        "attribute_prompts": [],
        "generation_prompts": [],
    }


def check_case(case, i: int = 0) -> None:
    """Refuse a CounterFact-format record that cannot be scored (or edited) as given;
    errors name the case and the field. Does not change the record."""
    if not isinstance(case, dict):
        raise DatasetError(f"case {i} is a {type(case).__name__}, expected a CounterFact record (a dict)")
    cid = case.get("case_id", i)
    rr = case.get("requested_rewrite")
    if not isinstance(rr, dict):
        raise DatasetError(f"case {cid}: field 'requested_rewrite' is missing or not an object")
    for field in ("prompt", "subject", "target_new", "target_true"):
        if field not in rr:
            raise DatasetError(f"case {cid}: field 'requested_rewrite.{field}' is missing")
    strs = {}
    for field in ("target_new", "target_true"):
        v = rr[field]
        strs[field] = v.get("str") if isinstance(v, dict) else None
        if not isinstance(strs[field], str) or not strs[field].strip():
            raise DatasetError(f"case {cid}: field 'requested_rewrite.{field}.str' is missing or empty")
    if strs["target_new"].strip() == strs["target_true"].strip():
        raise DatasetError(f"case {cid}: target_new equals target_true ({strs['target_new']!r}): nothing to score")
    if not isinstance(rr["subject"], str) or not rr["subject"].strip():
        raise DatasetError(f"case {cid}: field 'requested_rewrite.subject' must be a non-empty string")
    if not isinstance(rr["prompt"], str) or rr["prompt"].count("{}") != 1:
        raise DatasetError(f"case {cid}: field 'requested_rewrite.prompt' must contain one '{{}}' for the subject")
    for field in ("paraphrase_prompts", "neighborhood_prompts", "attribute_prompts", "generation_prompts"):
        prompts = case.get(field, [])
        if not isinstance(prompts, list) or not all(isinstance(x, str) and x.strip() for x in prompts):
            raise DatasetError(f"case {cid}: field {field!r} must be a list of non-empty prompts")


def check_cases(cases) -> None:
    """:func:`check_case` for each of a non-empty list of cases."""
    if isinstance(cases, (dict, str)) or not isinstance(cases, (list, tuple)):
        raise DatasetError(f"cases must be a list of CounterFact records, got a {type(cases).__name__}")
    if not cases:
        raise DatasetError("no cases given: nothing to evaluate")
    for i, c in enumerate(cases):
        check_case(c, i)


def validate_case(case: dict, i: int = 0) -> dict:
    """Check one CounterFact-format record and fill in its optional fields."""
    check_case(case, i)
    case.setdefault("case_id", i)
    for field in ("paraphrase_prompts", "neighborhood_prompts", "attribute_prompts", "generation_prompts"):
        case.setdefault(field, [])
    return case


def _read_records(path: Path) -> list:
    """A JSON list of records, or JSON Lines (one record per line, for ``.jsonl``)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                if line.strip():
                    records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path} is not valid JSON Lines: line {number}: {e.msg} (column {e.colno})"
                                   ) from None
        return records
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON: {e}") from None


def load_counterfact(name_or_path: str = "counterfact") -> list[dict]:
    """Load CounterFact-format cases (either format) from a name or a path."""
    path = find_file(name_or_path)
    raw = _read_records(path)
    if not isinstance(raw, list):
        raise DatasetError(f"{path}: expected a JSON list of cases")
    if not raw:
        raise DatasetError(f"{path} holds no cases")
    cases = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict):
            raise DatasetError(f"{path}: record {i} is not an object")
        cases.append(validate_case(d if "requested_rewrite" in d else _from_simple(d, i), i))
    return cases


def subset(cases: list[dict], n: int | None = None, seed: int = 0, relations=None,
           unique_subjects: bool = True, exclude_subjects=frozenset()) -> list[dict]:
    """A seeded subset of ``n`` cases, with unique subjects (so that one batch never holds
    two edits of one subject), optionally only the given relation ids, and never a subject
    in ``exclude_subjects`` (lower-cased; the shuffle is the same with or without it)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise DatasetError(f"n (the number of cases) must be a positive integer or None for all, got {n!r}")
    pool = [c for c in cases if relations is None or c["requested_rewrite"].get("relation_id") in set(relations)]
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    seen, out = set(), []
    for i in order:
        subj = pool[i]["requested_rewrite"]["subject"].strip().lower()
        if (unique_subjects and subj in seen) or subj in exclude_subjects:
            continue
        seen.add(subj)
        out.append(pool[i])
        if n is not None and len(out) == n:
            break
    if n is not None and len(out) < n:
        raise DatasetError(f"asked for {n} cases but only {len(out)} match (relations={relations})")
    return out
