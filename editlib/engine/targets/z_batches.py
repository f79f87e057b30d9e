"""How z batches its work (memory planning): the prompts of each fact, packed into chunks of
at most ``max_tokens`` padded suffix tokens (one forward/backward each) and groups of at
most ``group_tokens`` prompt tokens (optimised to completion before the next group starts,
so that what z holds in memory does not grow with the number of facts)."""
from __future__ import annotations

from ..model.prompts import encode, target_ids
from .requests import EditRequest
from .z_settings import KL_PROMPT, ZSettings


def fact_prompts(tok, requests, templates, fact_token):
    """Per fact: [("rewrite", Encoded, target ids) per template] + [("kl", Encoded, None)]."""
    out = []
    for r in requests:
        tgt = target_ids(tok, r.target_new)
        rw = [("rewrite", encode(tok, t, r.prompt, r.subject, fact_token, append=tgt[:-1]), tgt) for t in templates]
        kl = ("kl", encode(tok, "{}", KL_PROMPT, r.subject, fact_token), None)
        out.append(rw + [kl])
    return out


def suffix_width(rows) -> int:
    return max(len(e.ids) - e.fact_idx for _, e, _ in rows)


def chunks(facts, prompts, max_tokens, max_waste: float = 1.25):
    """Group facts into batches: facts sorted by suffix width (what runs each step), a new
    batch when the padded size would pass ``max_tokens`` or the width grow past
    ``max_waste`` × the batch's narrowest (bounding padding), so no step pays for padding."""
    group, rows, lo = [], 0, 0
    for f in sorted(facts, key=lambda f: (suffix_width(prompts[f]), f)):
        w, n = suffix_width(prompts[f]), len(prompts[f])
        if group and (w * (rows + n) > max_tokens or w > max_waste * lo):
            yield group
            group, rows = [], 0
        if not group:
            lo = w
        group.append(f)
        rows += n
    if group:
        yield group


def prompt_tokens(rows) -> int:
    return sum(len(e.ids) for _, e, _ in rows)


def groups(chunks: list[list[int]], prompts, group_tokens: int) -> list[list[list[int]]]:
    """Consecutive chunks packed into groups of at most ``group_tokens`` prompt tokens (a
    chunk over the budget forms a group alone). A group is optimised to completion and
    freed before the next starts: its prefix KV caches, initial KL distributions and
    activations are what z holds in memory, whatever the number of facts."""
    groups, cur, used = [], [], 0
    for ch in chunks:
        n = sum(prompt_tokens(prompts[f]) for f in ch)
        if cur and used + n > group_tokens:
            groups.append(cur)
            cur, used = [], 0
        cur.append(ch)
        used += n
    if cur:
        groups.append(cur)
    return groups


def plan_groups(tok, requests: list[EditRequest], templates: list[str], s: ZSettings):
    """(prompts per fact, groups of chunks of fact indices): how z will batch ``requests``."""
    prompts = fact_prompts(tok, requests, templates, s.fact_token)
    return prompts, groups(list(chunks(range(len(requests)), prompts, s.max_tokens)), prompts, s.group_tokens)
