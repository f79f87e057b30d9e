"""Perplexity on held-out text: general ability after editing.

Text: WikiText-2's test split (``wikitext2_test.txt``: data directory, cache or pinned download,
de-tokenized like the statistics corpus), or, without it, seeded samples from the model
as given (call it before editing). Cut into windows of ``seq_len`` tokens (the same
windowing as the covariance statistics); perplexity = exp(mean next-token NLL over every
predicted token).
"""
from __future__ import annotations

import math
import warnings

import torch

from ...engine.model.architectures import input_device
from ...engine.model.prompts import pad, pad_id
from ...engine.statistics.corpus import find_data_file, length_batches, model_samples, token_windows, wikitext_documents

WIKITEXT_TEST = "wikitext2_test.txt"


def heldout_windows(tok, model=None, n_tokens: int = 8192, seq_len: int = 256, seed: int = 0):
    """(windows, description): WikiText-2 test windows, else the model's own samples."""
    path = find_data_file(WIKITEXT_TEST)
    if path is not None:
        docs, what = wikitext_documents(path), f"wikitext2 test ({path.name})"
    elif model is not None:
        warnings.warn(f"held-out perplexity: {WIKITEXT_TEST} is not on disk and could not be downloaded, so the "
                      "text is the model's own samples; the numbers will not match the committed figures", stacklevel=2)
        docs, what = model_samples(model, tok, n_tokens=n_tokens, seed=seed), f"model samples (seed {seed})"
    else:
        raise FileNotFoundError(f"{WIKITEXT_TEST} is not in the data directory and no model was given to sample from")
    return token_windows(tok, docs, n_tokens, seq_len), f"{what}, {n_tokens} tokens in windows of {seq_len}"


@torch.no_grad()
def window_losses(model, tok, windows: list[list[int]], batch_tokens: int = 2048) -> tuple[list[float], list[int]]:
    """Per window: the summed next-token NLL of every token after the first, and how many
    tokens that is."""
    device = input_device(model)
    sums, counts = [0.0] * len(windows), [0] * len(windows)
    for batch in length_batches(windows, batch_tokens):
        ids, mask = pad([windows[i] for i in batch], pad_id(tok), device)
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1].float()
        target, keep = ids[:, 1:].to(logits.device), mask[:, 1:].bool().to(logits.device)
        nll = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="none").double()
        rows = keep.nonzero()[:, 0]
        per_row = torch.zeros(len(batch), dtype=torch.float64, device=nll.device).index_add_(0, rows, nll)
        for row, i in enumerate(batch):
            sums[i], counts[i] = float(per_row[row]), int(keep[row].sum())
    return sums, counts


def perplexity(model, tok, windows: list[list[int]], batch_tokens: int = 2048) -> float:
    """exp(mean NLL of every token after the first of each window)."""
    return perplexity_of(*window_losses(model, tok, windows, batch_tokens))


def perplexity_of(sums: list[float], counts: list[int]) -> float:
    """Perplexity over windows from their NLL sums and token counts."""
    if sum(counts) == 0:
        raise ValueError("no tokens to score")
    return math.exp(sum(sums) / sum(counts))


def window_nll(sums: list[float], counts: list[int]) -> list[float]:
    """Each window's mean NLL per token (its log-perplexity): what pairs two models' perplexity window by window."""
    return [s / c if c else float("nan") for s, c in zip(sums, counts)]
