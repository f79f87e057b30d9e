"""The edit ledger: per model, the true original of every weight editlib has written and
the edits still live on it, so that any edit can be undone bit for bit.

The ledger lives on the model object (not on an Editor, not in a global), so every
Editor on one model sees the same record:

- ``originals[name]``: the weight as it was before editlib first wrote it (CPU copy).
- a stack per weight of live edits, each owned by one Editor, with the weight as it
  was before that edit (``None`` when that was the original: no second copy).
  Consecutive ``apply()`` calls of one Editor on a weight share one stack entry, so
  sequential editing keeps one copy per weight, not one per call.

Writes happen inside a :meth:`EditLedger.transaction`: whatever is raised before it
commits (``KeyboardInterrupt`` included), every weight it wrote is put back bit for bit
and the ledger is as before. ``checkpoint``/``rollback`` bracket ``Editor.edited()``
blocks: on exit the weights are exactly what they were on entry.

Semantics of restoring (see ``Editor.restore`` and :func:`restore`):
- an Editor restores its own edits; if another Editor has since edited the same weight
  and not restored, it refuses (:class:`~editlib.base.errors.RestoreOrderError`) and changes
  nothing;
- ``editlib.restore(model)`` puts back every original, whoever edited.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ...base.errors import RestoreOrderError

_ATTR = "_editlib_ledger"


@dataclass
class _Entry:
    seq: int                       # order of creation, across all weights of the model
    owner: str                     # the Editor that wrote it
    base: torch.Tensor | None      # the weight before this edit; None: the original


def _cpu_copy(w: torch.Tensor) -> torch.Tensor:
    return w.detach().to("cpu", copy=True)


class EditLedger:
    def __init__(self):
        self.originals: dict[str, torch.Tensor] = {}
        self.stacks: dict[str, list[_Entry]] = {}
        self.checkpoints: list[int] = []
        self._seq = itertools.count()

    # ------------------------------------------------------------ queries
    def edited_by(self, owner: str) -> list[str]:
        return [n for n, stack in self.stacks.items() if any(e.owner == owner for e in stack)]

    def is_edited(self) -> bool:
        return any(self.stacks.values())

    def entries_of(self, owner: str) -> set[int]:
        """The live entries (their ``seq``) ``owner`` wrote, over every weight."""
        return {e.seq for stack in self.stacks.values() for e in stack if e.owner == owner}

    def top_entry(self, name: str) -> int:
        """The ``seq`` of the entry on top of weight ``name``: the one its last write joined."""
        return self.stacks[name][-1].seq

    # ------------------------------------------------------------ writing
    @contextmanager
    def transaction(self, model: nn.Module, owner: str):
        """``with ledger.transaction(model, owner) as write: write(name, fn)`` — ``fn(weight)``
        changes the weight in place. All-or-nothing: on any exception every written weight
        is restored bit for bit and the ledger is left as before; on success the edits are
        recorded as ``owner``'s."""
        undo: list[tuple[str, torch.Tensor | None]] = []   # (name, weight before; None = original)
        pushed: list[str] = []
        new_originals: list[str] = []

        def write(name: str, fn) -> None:
            w = model.get_submodule(name).weight
            stack = self.stacks.setdefault(name, [])
            if not stack:
                if name not in self.originals:
                    self.originals[name] = _cpu_copy(w)
                    new_originals.append(name)
                before = None
            else:
                before = _cpu_copy(w)
            if not self._extends(stack, owner):
                stack.append(_Entry(next(self._seq), owner, before))
                pushed.append(name)
            undo.append((name, before))
            with torch.no_grad():
                fn(w)

        try:
            yield write
        except BaseException:
            for name, before in reversed(undo):
                self._put_back(model, name, before)
            for name in pushed:
                self.stacks[name].pop()
            for name in new_originals:
                del self.originals[name]
            self._drop_empty()
            raise

    def _extends(self, stack: list[_Entry], owner: str) -> bool:
        """A write joins the top entry when it is the same Editor's and no checkpoint
        was taken since (a checkpoint must be able to return to the state at its time)."""
        if not stack or stack[-1].owner != owner:
            return False
        return not self.checkpoints or stack[-1].seq >= self.checkpoints[-1]

    # ------------------------------------------------------------ undoing
    def _put_back(self, model: nn.Module, name: str, base: torch.Tensor | None) -> None:
        """Copy ``base`` (None: the original) back into the weight ``name``."""
        src = self.originals[name] if base is None else base
        with torch.no_grad():
            model.get_submodule(name).weight.copy_(src)

    def _drop_empty(self) -> None:
        for name in [n for n, s in self.stacks.items() if not s]:
            del self.stacks[name]
            self.originals.pop(name, None)

    def undo_owner(self, model: nn.Module, owner: str, label: str = "") -> list[str]:
        """Undo every live edit of ``owner``. Refuses, changing nothing, when another
        owner's later edit sits on top of one of them. Returns the weights restored."""
        blocked = {}
        for name, stack in self.stacks.items():
            mine = [i for i, e in enumerate(stack) if e.owner == owner]
            if mine:
                later = {e.owner for e in stack[mine[0]:] if e.owner != owner}
                if later:
                    blocked[name] = sorted(later)
        if blocked:
            what = "; ".join(f"{n} (later edited by {', '.join(o)})" for n, o in blocked.items())
            raise RestoreOrderError(
                f"restoring {label or owner} would also undo other Editors' later edits to {what}. "
                "Restore those Editors first (last edited, first restored), or call "
                "editlib.restore(model) to put back every original weight.")
        done = []
        for name, stack in self.stacks.items():
            mine = [i for i, e in enumerate(stack) if e.owner == owner]
            if mine:
                self._put_back(model, name, stack[mine[0]].base)
                del stack[mine[0]:]
                done.append(name)
        self._drop_empty()
        return done

    def checkpoint(self) -> int:
        seq = next(self._seq)
        self.checkpoints.append(seq)
        return seq

    def rollback(self, model: nn.Module, seq: int) -> set[str]:
        """Undo every edit made after checkpoint ``seq`` (whoever made it) and close the
        checkpoint: the weights are as they were when it was taken. Returns the owners
        whose edits were undone."""
        undone = set()
        for name, stack in self.stacks.items():
            later = [i for i, e in enumerate(stack) if e.seq > seq]
            if later:
                self._put_back(model, name, stack[later[0]].base)
                undone |= {e.owner for e in stack[later[0]:]}
                del stack[later[0]:]
        self._drop_empty()
        if seq in self.checkpoints:
            self.checkpoints.remove(seq)
        return undone

    def restore_all(self, model: nn.Module) -> list[str]:
        names = list(self.originals)
        with torch.no_grad():
            for name in names:
                model.get_submodule(name).weight.copy_(self.originals[name])
        self.originals.clear()
        self.stacks.clear()
        return names


def ledger(model: nn.Module) -> EditLedger:
    """The model's edit ledger (created on first use)."""
    led = model.__dict__.get(_ATTR)
    if led is None:
        led = EditLedger()
        object.__setattr__(model, _ATTR, led)
    return led


def restore(model: nn.Module) -> list[str]:
    """Put back the original of every weight any Editor has written, bit for bit, and
    forget all live edits. Returns the names of the weights restored."""
    return ledger(model).restore_all(model)
