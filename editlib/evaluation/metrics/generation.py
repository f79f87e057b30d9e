"""Generation metrics: GE (fluency, n-gram entropy); RS (consistency) is not computed.

GE: for each text, the weighted mean of the word bigram and trigram entropies (base 2,
weights 2/3 and 4/3), averaged over texts; ×100 when reported. Tokens are words and
punctuation marks (the regular expression ``TOKEN_PATTERN``, case kept); an n-gram is n
consecutive tokens, counted over the text (as scikit-learn's CountVectorizer counts them).
RS (the TF-IDF cosine between generated text and reference snippets about target_new)
needs the snippets and IDF statistics that CounterFact distributes separately, which
editlib does not have: it is reported as missing (NaN), never as 0.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ...base.seeding import seeded
from ...engine.model.architectures import input_device, model_devices
from ...engine.model.prompts import encode_left

TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"


def ngram_entropy(text: str, n: int) -> float:
    """Entropy (bits) of the n-gram frequencies of ``text``; 0 when it has no n-gram."""
    tokens = re.findall(TOKEN_PATTERN, text)
    grams = Counter(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    if not grams:
        return 0.0
    counts = np.array([grams[g] for g in sorted(grams)], dtype=np.int64)     # in sorted order: the same sums
    f = counts / counts.sum()
    return float(-(f * np.log2(f)).sum())


def generation_entropy(text: str) -> float:
    """(2/3·H2 + 4/3·H3) / 2."""
    return float(np.mean([2 / 3 * ngram_entropy(text, 2), 4 / 3 * ngram_entropy(text, 3)]))


def greedy_continuations(model, tok, prompts: list[str], max_new_tokens: int = 8) -> list[str]:
    """The greedy (argmax) continuation of each prompt, without the prompt: what the model
    "says" when asked, as ROME's demo shows before and after an edit. One prompt at a
    time (no padding), so each continuation is the one the prompt gets alone."""
    device = input_device(model)
    out = []
    for prompt in prompts:
        enc = tok(prompt, return_tensors="pt").to(device)
        ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        out.append(tok.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    return out


def generate(model, tok, prompts: list[str], max_new_tokens: int = 100, seed: int = 0,
             top_k: int = 5) -> list[str]:
    """Seeded top-k sampling (as the papers' fluency evaluation), one text per prompt."""
    device = input_device(model)
    enc = encode_left(tok, prompts, device)
    with seeded(seed, model_devices(model)):
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, top_k=top_k,
                             pad_token_id=tok.pad_token_id)
    return tok.batch_decode(out, skip_special_tokens=True)
