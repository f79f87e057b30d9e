"""Edit requests: one fact to write, in CounterFact's ``requested_rewrite`` form, and the
rules a batch of them must follow (checked before any statistics or z are computed)."""
from __future__ import annotations

import string
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...base.errors import EditRequestError

FIELDS = ("prompt", "subject", "target_new")


@dataclass(frozen=True)
class EditRequest:
    prompt: str                  # with "{}" where the subject goes: "The mother tongue of {} is"
    subject: str                 # "Danielle Darrieux"
    target_new: str              # "English"
    target_true: str | None = None
    case_id: Any = None

    @property
    def text(self) -> str:
        return self.prompt.format(self.subject)

    @property
    def tag(self) -> str:
        return f"request {self.case_id!r}" if self.case_id is not None else f"request {self.subject!r}"

    @classmethod
    def from_dict(cls, d: Mapping) -> EditRequest:
        """Accept CounterFact's ``requested_rewrite`` (target_new as {"str": ...}), a whole
        CounterFact case, or a flat dict."""
        if "requested_rewrite" in d:
            rr = d["requested_rewrite"]
            rr = rr[0] if isinstance(rr, list) and rr else rr
            if not isinstance(rr, Mapping):
                raise EditRequestError(f"case {d.get('case_id')!r}: requested_rewrite must be an object")
            return cls.from_dict({**rr, "case_id": d.get("case_id")})
        tag = f"request {d.get('case_id', d.get('subject'))!r}"
        missing = [f for f in FIELDS if f not in d]
        if missing:
            raise EditRequestError(f"{tag}: missing field(s) {missing}; a request needs {list(FIELDS)}")

        def text(field):
            v = d.get(field)
            return v.get("str") if isinstance(v, Mapping) else v

        return cls(prompt=d["prompt"], subject=d["subject"], target_new=text("target_new"),
                   target_true=text("target_true"), case_id=d.get("case_id"))


def as_requests(requests: Iterable) -> list[EditRequest]:
    """A list of validated :class:`EditRequest` from requests in any accepted form (see
    :func:`validate`). Exact duplicates are written once (with a warning)."""
    if isinstance(requests, (str, bytes, Mapping, EditRequest)) or not isinstance(requests, Iterable):
        raise EditRequestError(f"requests must be a list of requests, got a {type(requests).__name__}; "
                               "wrap a single request in a list: [request]")
    out = []
    for i, r in enumerate(requests):
        if isinstance(r, EditRequest):
            out.append(r)
        elif isinstance(r, Mapping):
            out.append(EditRequest.from_dict(r))
        else:
            raise EditRequestError(f"request {i} is a {type(r).__name__}; expected a dict (CounterFact's "
                                   "requested_rewrite, a whole case, or prompt/subject/target_new) or an EditRequest")
    return validate(out)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _check_prompt(r: EditRequest) -> None:
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(r.prompt) if f is not None]
    except ValueError as e:
        raise EditRequestError(f"{r.tag}: the prompt {r.prompt!r} is not a valid template ({e}); "
                               "it must hold the subject as one '{}' and no other braces") from None
    if fields != [("", "", None)] or "{{" in r.prompt or "}}" in r.prompt:
        if fields == [] and r.subject in r.prompt:
            raise EditRequestError(f"{r.tag}: the prompt must hold the subject as '{{}}', "
                                   f"e.g. {r.prompt.replace(r.subject, '{}', 1)!r}")
        if not fields:
            raise EditRequestError(f"{r.tag}: subject {r.subject!r} is not in the prompt {r.prompt!r} "
                                   "(expected exactly one '{}' placeholder)")
        raise EditRequestError(f"{r.tag}: the prompt {r.prompt!r} must hold exactly one '{{}}' (the subject) "
                               "and no other braces")
    if r.prompt != r.prompt.rstrip():
        raise EditRequestError(f"{r.tag}: the prompt {r.prompt!r} ends with whitespace; the target is "
                               "appended with its own leading space")


def _check_one(r: EditRequest) -> None:
    for field in ("prompt", "subject", "target_new"):
        v = getattr(r, field)
        if not isinstance(v, str):
            raise EditRequestError(f"{r.tag}: {field} must be a string, got {type(v).__name__} ({v!r})")
    if r.target_true is not None and not isinstance(r.target_true, str):
        raise EditRequestError(f"{r.tag}: target_true must be a string or None, got {type(r.target_true).__name__}")
    if not r.target_new.strip():
        raise EditRequestError(f"{r.tag}: target_new is empty or whitespace-only")
    if r.target_new != r.target_new.rstrip():
        raise EditRequestError(f"{r.tag}: target_new {r.target_new!r} ends with whitespace")
    if not r.subject.strip():
        raise EditRequestError(f"{r.tag}: subject is empty")
    if r.subject != r.subject.strip():
        raise EditRequestError(f"{r.tag}: subject {r.subject!r} has leading or trailing whitespace")
    _check_prompt(r)
    if r.target_true is not None and r.target_true.strip() == r.target_new.strip():
        raise EditRequestError(f"{r.tag}: target_new equals target_true ({r.target_new.strip()!r}): "
                               "nothing to edit")


def validate(requests: list[EditRequest]) -> list[EditRequest]:
    """Refuse requests that would make a silently wrong edit, and return them with exact
    duplicates removed.

    Two requests are the same fact when prompt, subject and target agree up to
    whitespace (runs of spaces, a leading space on the target). The same fact twice is
    written once, with a warning (a duplicate key would make EMMET's system singular, and
    with its ridge leave most of the edit unwritten); the same prompt and subject with
    different targets is a conflict and an error."""
    if not requests:
        raise EditRequestError("no edit requests given")
    seen: dict[tuple[str, str], EditRequest] = {}
    out = []
    for r in requests:
        _check_one(r)
        key = (_norm(r.prompt), _norm(r.subject))
        if key in seen:
            first = seen[key]
            if _norm(first.target_new) != _norm(r.target_new):
                raise EditRequestError(f"{r.tag}: two requests for subject {r.subject!r} and prompt "
                                       f"{r.prompt!r} ask for different targets ({first.target_new!r} vs "
                                       f"{r.target_new!r}) in one batch")
            warnings.warn(f"{r.tag} repeats {first.tag} (same prompt, subject and target): written once",
                          stacklevel=3)
            continue
        seen[key] = r
        out.append(r)
    return out


def check_finite(name: str, tensor) -> None:
    import torch

    if not torch.isfinite(tensor).all():
        bad = (~torch.isfinite(tensor)).sum().item()
        raise FloatingPointError(f"{name} holds {bad} NaN/inf value(s); refusing to edit")


__all__ = ["EditRequest", "EditRequestError", "as_requests", "validate", "check_finite"]
