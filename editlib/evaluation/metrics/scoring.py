"""Teacher-forced scoring: the one function every metric uses.

``target_nll`` gives, for many (prompt, target) pairs, the mean per-token negative
log-likelihood of the target appended to the prompt (with one leading space, as
CounterFact scores it). A pair needs the sequence prompt + target[:-1] (the last target
token is predicted, never read); pairs with the same prompt share one sequence whenever
one's needed tokens are a prefix of another's — CounterFact scores every prompt with two
targets, mostly single tokens, so that halves the work. Sequences are length-sorted into
padded batches, the forward pass stops at the final norm, and logits are computed only at
the target positions.
"""
from __future__ import annotations

import numpy as np
import torch

from ...engine.model.architectures import get_architecture, input_device
from ...engine.model.hooks import trace
from ...engine.model.lm import head_logits
from ...engine.model.prompts import pad, pad_id, target_ids, token_batches


def shared_sequences(rows: list[tuple[list[int], list[int]]]):
    """The sequences to run for (prompt ids, target ids) ``rows``: a list of token lists
    and, per row, the index of the sequence that holds it. Row (p, t) is read from any
    sequence that starts with p + t[:-1] (causal attention: later tokens cannot change
    those positions), so rows of one prompt share a sequence when their targets allow."""
    seqs: list[list[int]] = []
    home = [0] * len(rows)
    by_prompt: dict[tuple, list[int]] = {}
    for i in sorted(range(len(rows)), key=lambda i: -len(rows[i][1])):     # longest target first
        p, t = rows[i]
        need = p + t[:-1]
        candidates = by_prompt.setdefault(tuple(p), [])
        s = next((s for s in candidates if seqs[s][:len(need)] == need), None)
        if s is None:
            s = len(seqs)
            seqs.append(need)
            candidates.append(s)
        home[i] = s
    return seqs, home


def target_nll(model, tok, prompts: list[str], targets: list[str], max_tokens: int = 4096,
               return_token_hits: bool = False):
    """Mean per-token NLL of ``targets[i]`` after ``prompts[i]``: array (N,). With
    ``return_token_hits``, also the fraction of target tokens that are the argmax
    prediction (token accuracy, as zsRE is scored)."""
    if len(prompts) != len(targets):
        raise ValueError("prompts and targets differ in length")
    arch = get_architecture(model)
    device = input_device(model)
    p_ids = tok(list(prompts))["input_ids"]
    cache: dict[str, list[int]] = {}
    rows = []
    for p, t in zip(p_ids, targets):
        if t not in cache:
            cache[t] = target_ids(tok, t)
        rows.append((list(p), cache[t]))
    seqs, home = shared_sequences(rows)
    readers: list[list[int]] = [[] for _ in seqs]            # the rows each sequence serves
    for i, s in enumerate(home):
        readers[s].append(i)
    nll = np.zeros(len(rows))
    hits = np.zeros(len(rows))
    for batch in token_batches(sorted(range(len(seqs)), key=lambda s: len(seqs[s])), max_tokens,
                               length=lambda s: len(seqs[s])):
        ids, mask = pad([seqs[s] for s in batch], pad_id(tok), device)
        r, c, t, owner = [], [], [], []
        for j, s in enumerate(batch):
            for i in readers[s]:
                n_p, tgt = len(rows[i][0]), rows[i][1]
                for k, tk in enumerate(tgt):
                    r.append(j)
                    c.append(n_p - 1 + k)
                    t.append(tk)
                    owner.append(i)
        r, c = torch.tensor(r, device=device), torch.tensor(c, device=device)
        norm = arch.final_norm
        hidden = trace(model, ids, mask, {norm: "in"}, r, c, stop_after=norm)[norm]
        with torch.no_grad():
            logp = torch.log_softmax(head_logits(model, arch, hidden), dim=-1)
        t = torch.tensor(t, device=logp.device)                   # the LM head's device
        tok_nll = (-logp[torch.arange(len(t), device=logp.device), t]).double().cpu().numpy()
        tok_hit = (logp.argmax(-1) == t).double().cpu().numpy()
        owner = np.array(owner)
        np.add.at(nll, owner, tok_nll)
        np.add.at(hits, owner, tok_hit)
    lengths = np.array([len(tg) for _, tg in rows], dtype=float)
    nll /= lengths
    hits /= lengths
    return (nll, hits) if return_token_hits else nll
