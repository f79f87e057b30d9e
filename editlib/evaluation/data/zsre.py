"""zsRE in MEND's format (question answering edits), read into CounterFact-style records so
that the same requests and scoring apply."""
from __future__ import annotations

from ...base.errors import DatasetError
from .counterfact import _read_records, _template, find_file


def load_zsre(name_or_path: str = "zsre") -> list[dict]:
    """zsRE in MEND's format, as records with CounterFact-style ``requested_rewrite`` plus
    ``paraphrase_prompts`` (the rephrased question), ``loc_prompt`` and ``loc_answer``."""
    path = find_file(name_or_path)
    out = []
    for i, d in enumerate(_read_records(path)):
        for field in ("src", "subject", "alt", "rephrase", "loc", "loc_ans"):
            if field not in d:
                raise DatasetError(f"zsRE record {i}: missing field {field!r}")
        answers = d.get("answers") or [d.get("pred", "")]
        out.append({
            "case_id": d.get("case_id", i),
            "requested_rewrite": {"prompt": _template(d["src"], d["subject"], f"zsRE record {i}: field 'src'"),
                                  "subject": d["subject"],
                                  "target_new": {"str": d["alt"]}, "target_true": {"str": answers[0]}},
            "paraphrase_prompts": [d["rephrase"]],
            "loc_prompt": d["loc"].replace("nq question: ", "") + "?", "loc_answer": d["loc_ans"],
        })
    return out
