"""The keys an Editor has written and that are still in the model: what sequential
objectives preserve, K_p K_pᵀ per layer (EMMET's ``preserve_edits``, AlphaEdit's K_p).

Each ``apply()`` is one record: its ledger entries (:mod:`editlib.engine.edit.ledger`), its number of
facts and its keys per layer. A record holds only while its ledger entries do: an outside
``editlib.restore(model)``, or another Editor's ``edited()`` block that rolls back over
it, undoes the edit, and the next :meth:`PreservedKeys.sync` forgets the record, so an
Editor never keeps preserving a fact the model no longer holds.

The Gram matrices are float64 on the CPU; a record's keys are folded into them at the
next solve (a one-off edit never pays for a d_k × d_k sum) and kept (float32, d_k × B per
record) so that a forgotten record can be taken out again. A method that solves in a basis
U of its own (AlphaEdit's null space) gets UᵀK_pK_pᵀU, folded the same way: r × r per
layer, with no d_k × d_k product per solve.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class _Record:
    entries: frozenset[int]                  # the ledger entries that hold this apply's weights
    n_facts: int
    keys: dict[int, torch.Tensor]            # layer -> (d_k, B) float32, CPU


class PreservedKeys:
    """K_p K_pᵀ per layer over the records still live in the model."""

    def __init__(self):
        self._records: list[_Record] = []
        self._gram: dict[int, torch.Tensor] = {}
        self._folded: dict[int, int] = {}       # layer -> records [0, n) summed into _gram[layer]
        self._projected: dict[int, tuple] = {}   # layer -> (basis U, UᵀK_pK_pᵀU, records summed into it)

    def __len__(self) -> int:
        """The number of facts preserved."""
        return sum(r.n_facts for r in self._records)

    def add(self, entries, n_facts: int, keys: dict[int, torch.Tensor]) -> None:
        self._records.append(_Record(frozenset(entries), n_facts,
                                     {l: k.detach().float().cpu() for l, k in keys.items()}))

    def gram(self, layer: int, basis: torch.Tensor | None = None) -> torch.Tensor | None:
        """K_p K_pᵀ (float64, CPU) of the live records' keys at ``layer``; None before any.
        With ``basis`` U (d_k × r, orthonormal columns): UᵀK_pK_pᵀU (r × r), kept per layer
        for that basis."""
        if basis is not None:
            return self._projected_gram(layer, basis)
        for r in self._records[self._folded.get(layer, 0):]:
            if layer in r.keys:
                k = r.keys[layer].double()
                self._gram[layer] = self._gram.get(layer, 0) + k @ k.T
        self._folded[layer] = len(self._records)
        return self._gram.get(layer)

    def _projected_gram(self, layer: int, basis: torch.Tensor) -> torch.Tensor | None:
        held, g, folded = self._projected.get(layer, (None, None, 0))
        if held is not basis:                                   # another basis: start again
            g, folded = None, 0
        u = basis.detach().double().cpu()
        for r in self._records[folded:]:
            if layer in r.keys:
                uk = u.T @ r.keys[layer].double()
                g = uk @ uk.T if g is None else g + uk @ uk.T
        self._projected[layer] = (basis, g, len(self._records))
        return g

    def sync(self, live_entries: set[int]) -> int:
        """Forget the records whose ledger entries are gone; returns how many facts that
        was. The Gram matrices are rebuilt (lazily) from the records that remain."""
        kept = [r for r in self._records if r.entries <= live_entries]
        lost = len(self) - sum(r.n_facts for r in kept)
        if len(kept) != len(self._records):
            self._records, self._gram, self._folded, self._projected = kept, {}, {}, {}
        return lost

    def clear(self) -> None:
        self._records, self._gram, self._folded, self._projected = [], {}, {}, {}

    def snapshot(self):
        return list(self._records), dict(self._gram), dict(self._folded), dict(self._projected)

    def reset_to(self, snapshot) -> None:
        self._records, self._gram, self._folded, self._projected = (list(snapshot[0]), dict(snapshot[1]),
                                                                    dict(snapshot[2]), dict(snapshot[3]))
