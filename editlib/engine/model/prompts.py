"""Tokenising prompts and finding the fact token (the subject's last token)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

FACT_TOKENS = ("subject_last", "last")


@dataclass
class Encoded:
    ids: list[int]     # prompt tokens (special tokens included) + appended target tokens
    fact_idx: int      # position of the fact token
    n_prompt: int      # how many of ``ids`` belong to the prompt


def encode(tok, template: str, prompt: str, subject: str, fact_token: str = "subject_last",
           append: list[int] | None = None) -> Encoded:
    """Encode ``template.format(prompt.format(subject))`` (+ ``append`` token ids) and find
    the fact token: the last token that overlaps the subject, or the prompt's last token."""
    if fact_token not in FACT_TOKENS:
        raise ValueError(f"fact_token must be one of {FACT_TOKENS}, not {fact_token!r}")
    head, _, _ = template.partition("{}")
    pre_subject = head + prompt.partition("{}")[0]
    text = template.format(prompt.format(subject))
    enc = tok(text, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    if fact_token == "last":
        fact_idx = len(ids) - 1
    else:
        end = len(pre_subject) + len(subject)
        cands = [i for i, (s, e) in enumerate(offsets) if e > s and s < end]
        if not cands:
            raise ValueError(f"subject {subject!r} not found among the tokens of {text!r}")
        fact_idx = cands[-1]
    return Encoded(list(ids) + list(append or []), fact_idx, len(ids))


def target_text(target: str) -> str:
    """Targets are scored and written with one leading space, as CounterFact does."""
    return target if target.startswith(" ") else " " + target


def target_ids(tok, target: str) -> list[int]:
    """Token ids of the target as appended to a prompt (leading space, no special tokens)."""
    ids = tok(target_text(target), add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"target {target!r} encodes to no tokens")
    return ids


def pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token rows: (input_ids, attention_mask), both (B, T)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def encode_left(tok, texts: list[str], device):
    """Left-padded batch encoding (as generation needs), without changing ``tok``."""
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        return tok(texts, return_tensors="pt", padding=True).to(device)
    finally:
        tok.padding_side = side


def token_batches(items, max_tokens: int, length=len):
    """Split ``items`` (in order) into batches whose padded size, longest × count, stays
    within ``max_tokens`` (a batch always holds at least one item)."""
    batch, width = [], 0
    for item in items:
        w = max(width, length(item))
        if batch and w * (len(batch) + 1) > max_tokens:
            yield batch
            batch, w = [], length(item)
        batch.append(item)
        width = w
    if batch:
        yield batch


def pad_id(tok) -> int:
    return tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
