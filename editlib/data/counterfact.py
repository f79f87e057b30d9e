"""CounterFact (Meng et al. 2022) and zsRE loaders.

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
``<cache>/data``); the canonical download location when the machine is online (saved to
``<cache>/data`` with its SHA-256 beside it, checked on every later load).
"""
from __future__ import annotations

import hashlib
import json
import random
import urllib.request
from pathlib import Path

from ..config import cache_dir, data_dirs

FILES = {
    "counterfact": "counterfact.json",
    "multi_counterfact": "multi_counterfact.json",
    "counterfact_simple": "counterfact_simple_edit10k.json",
    "zsre": "zsre_mend_eval.json",
    "zsre_train1k": "zsre_mend_train1k.json",
}
URLS = {
    "counterfact": "https://rome.baulab.info/data/dsets/counterfact.json",
    "multi_counterfact": "https://rome.baulab.info/data/dsets/multi_counterfact.json",
    "zsre": "https://rome.baulab.info/data/dsets/zsre_mend_eval.json",
}


class DatasetError(ValueError):
    pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download(name: str) -> Path:
    target = cache_dir("data") / FILES[name]
    tmp = target.with_suffix(".part")
    urllib.request.urlretrieve(URLS[name], tmp)
    tmp.replace(target)
    target.with_suffix(".sha256").write_text(_sha256(target))
    return target


def find_file(name_or_path: str) -> Path:
    """Resolve a dataset name or path to a file, or raise saying where we looked."""
    p = Path(name_or_path)
    if p.suffix == ".json" and p.exists():
        return p
    if name_or_path not in FILES:
        if p.suffix == ".json":
            raise FileNotFoundError(f"dataset file {p} does not exist")
        raise DatasetError(f"unknown dataset {name_or_path!r}; use a path or one of {sorted(FILES)}")
    fname = FILES[name_or_path]
    for d in data_dirs():
        if (d / fname).exists():
            f = d / fname
            sha = f.with_suffix(".sha256")
            if sha.exists() and sha.read_text().strip() != _sha256(f):
                raise DatasetError(f"{f} does not match its checksum {sha}; delete both to download again")
            return f
    if name_or_path in URLS:
        try:
            return _download(name_or_path)
        except OSError as e:
            why = f"download from {URLS[name_or_path]} failed ({e})"
    else:
        why = "it has no public download location"
    raise FileNotFoundError(
        f"{fname} not found in {[str(d) for d in data_dirs()]} and {why}. Put the file in one of "
        "those folders, set EDITLIB_DATA to a folder that holds it, or pass its path.")


def _from_simple(d: dict, i: int) -> dict:
    for field in ("prompt", "subject", "target_new", "ground_truth"):
        if field not in d:
            raise DatasetError(f"case {d.get('case_id', i)}: missing field {field!r}")
    if d["subject"] not in d["prompt"]:
        raise DatasetError(f"case {d.get('case_id', i)}: field 'prompt' does not contain the subject {d['subject']!r}")
    return {
        "case_id": d.get("case_id", i),
        "requested_rewrite": {"prompt": d["prompt"].replace(d["subject"], "{}", 1), "subject": d["subject"],
                              "target_new": {"str": d["target_new"]}, "target_true": {"str": d["ground_truth"]},
                              "relation_id": d.get("relation_id")},
        "paraphrase_prompts": [d["rephrase_prompt"]] if d.get("rephrase_prompt") else [],
        "neighborhood_prompts": [d["locality_prompt"]] if d.get("locality_prompt") else [],
        "attribute_prompts": [],
        "generation_prompts": [],
    }


def validate_case(case: dict, i: int = 0) -> dict:
    """Check one CounterFact-format record; errors name the case and the field."""
    cid = case.get("case_id", i)
    rr = case.get("requested_rewrite")
    if not isinstance(rr, dict):
        raise DatasetError(f"case {cid}: field 'requested_rewrite' is missing or not an object")
    for field in ("prompt", "subject", "target_new", "target_true"):
        if field not in rr:
            raise DatasetError(f"case {cid}: field 'requested_rewrite.{field}' is missing")
    for field in ("target_new", "target_true"):
        v = rr[field]
        s = v.get("str") if isinstance(v, dict) else None
        if not isinstance(s, str) or not s.strip():
            raise DatasetError(f"case {cid}: field 'requested_rewrite.{field}.str' is missing or empty")
    if rr["prompt"].count("{}") != 1:
        raise DatasetError(f"case {cid}: field 'requested_rewrite.prompt' must contain one '{{}}' for the subject")
    for field in ("paraphrase_prompts", "neighborhood_prompts"):
        if not isinstance(case.get(field, []), list):
            raise DatasetError(f"case {cid}: field {field!r} must be a list of prompts")
    case.setdefault("case_id", cid)
    for field in ("paraphrase_prompts", "neighborhood_prompts", "attribute_prompts", "generation_prompts"):
        case.setdefault(field, [])
    return case


def load_counterfact(name_or_path: str = "counterfact") -> list[dict]:
    """Load CounterFact-format cases (either format) from a name or a path."""
    path = find_file(name_or_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(raw, list):
        raise DatasetError(f"{path}: expected a JSON list of cases")
    cases = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict):
            raise DatasetError(f"{path}: record {i} is not an object")
        cases.append(validate_case(d if "requested_rewrite" in d else _from_simple(d, i), i))
    return cases


def load_zsre(name_or_path: str = "zsre") -> list[dict]:
    """zsRE in MEND's format, as records with CounterFact-style ``requested_rewrite`` plus
    ``paraphrase_prompts`` (the rephrased question), ``loc_prompt`` and ``loc_answer``."""
    path = find_file(name_or_path)
    out = []
    for i, d in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        for field in ("src", "subject", "alt", "rephrase", "loc", "loc_ans"):
            if field not in d:
                raise DatasetError(f"zsRE record {i}: missing field {field!r}")
        if d["subject"] not in d["src"]:
            raise DatasetError(f"zsRE record {i}: field 'src' does not contain the subject {d['subject']!r}")
        answers = d.get("answers") or [d.get("pred", "")]
        out.append({
            "case_id": d.get("case_id", i),
            "requested_rewrite": {"prompt": d["src"].replace(d["subject"], "{}", 1), "subject": d["subject"],
                                  "target_new": {"str": d["alt"]}, "target_true": {"str": answers[0]}},
            "paraphrase_prompts": [d["rephrase"]],
            "loc_prompt": d["loc"].replace("nq question: ", "") + "?", "loc_answer": d["loc_ans"],
        })
    return out


def subset(cases: list[dict], n: int | None = None, seed: int = 0, relations=None,
           unique_subjects: bool = True) -> list[dict]:
    """A seeded subset of ``n`` cases, with unique subjects (so that one batch never holds
    two edits of one subject) and optionally only the given relation ids."""
    pool = [c for c in cases if relations is None or c["requested_rewrite"].get("relation_id") in set(relations)]
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    seen, out = set(), []
    for i in order:
        subj = pool[i]["requested_rewrite"]["subject"].strip().lower()
        if unique_subjects and subj in seen:
            continue
        seen.add(subj)
        out.append(pool[i])
        if n is not None and len(out) == n:
            break
    if n is not None and len(out) < n:
        raise DatasetError(f"asked for {n} cases but only {len(out)} match (relations={relations})")
    return out
