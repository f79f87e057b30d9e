"""zsRE metrics as MEND/ROME/MEMIT report them: token-level accuracies (the fraction of
target tokens that are the model's argmax prediction under teacher forcing).

- efficacy     accuracy of target_new after the edit question
- paraphrase   the same after the rephrased question
- specificity  accuracy of the unrelated NQ answer after its question
"""
from __future__ import annotations

import pandas as pd

from .scoring import target_nll


def zsre_scores(model, tok, cases: list[dict]) -> pd.DataFrame:
    prompts, targets, owner, kind = [], [], [], []
    for i, c in enumerate(cases):
        rr = c["requested_rewrite"]
        items = [("efficacy", rr["prompt"].format(rr["subject"]), rr["target_new"]["str"])]
        items += [("paraphrase", p, rr["target_new"]["str"]) for p in c.get("paraphrase_prompts", [])]
        items.append(("specificity", c["loc_prompt"], c["loc_answer"]))
        for k, p, t in items:
            prompts.append(p)
            targets.append(t)
            owner.append(i)
            kind.append(k)
    _, hits = target_nll(model, tok, prompts, targets, return_token_hits=True)
    df = pd.DataFrame({"case": owner, "kind": kind, "acc": hits * 100})
    wide = df.groupby(["case", "kind"]).acc.mean().unstack("kind")
    wide.insert(0, "case_id", [cases[i]["case_id"] for i in wide.index])
    return wide.reset_index(drop=True)[["case_id", "efficacy", "paraphrase", "specificity"]]
