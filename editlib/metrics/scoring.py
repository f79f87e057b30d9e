"""Teacher-forced scoring: the one function every metric uses.

``target_nll`` gives, for many (prompt, target) pairs, the mean per-token negative
log-likelihood of the target appended to the prompt (with one leading space, as
CounterFact scores it). Pairs are length-sorted into padded batches, the forward pass
stops at the final norm, and logits are computed only at the target positions.
"""
from __future__ import annotations

import numpy as np
import torch

from ..hooks import trace
from ..lm import head_logits
from ..models import get_architecture, input_device
from ..prompts import pad, pad_id, target_ids, token_batches


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
        rows.append((p, cache[t]))
    nll = np.zeros(len(rows))
    hits = np.zeros(len(rows))
    def length(i):
        return len(rows[i][0]) + len(rows[i][1])

    for batch in token_batches(sorted(range(len(rows)), key=length), max_tokens, length=length):
        seqs = [rows[i][0] + rows[i][1] for i in batch]
        ids, mask = pad(seqs, pad_id(tok), device)
        r, c, t, owner = [], [], [], []
        for j, i in enumerate(batch):
            n_p, tgt = len(rows[i][0]), rows[i][1]
            for k, tk in enumerate(tgt):
                r.append(j); c.append(n_p - 1 + k); t.append(tk); owner.append(i)
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
