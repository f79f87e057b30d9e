"""Edit requests: one fact to write, in CounterFact's ``requested_rewrite`` form."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping


class EditRequestError(ValueError):
    """A request that cannot be edited as given."""


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

    @classmethod
    def from_dict(cls, d: Mapping) -> "EditRequest":
        """Accept CounterFact's ``requested_rewrite`` (target_new as {"str": ...}), a whole
        CounterFact case, or a flat dict."""
        if "requested_rewrite" in d:
            rr = d["requested_rewrite"]
            rr = rr[0] if isinstance(rr, list) else rr
            return cls.from_dict({**rr, "case_id": d.get("case_id")})

        def text(v):
            return v["str"] if isinstance(v, Mapping) else v

        return cls(prompt=d["prompt"], subject=d["subject"], target_new=text(d["target_new"]),
                   target_true=text(d.get("target_true")) if d.get("target_true") is not None else None,
                   case_id=d.get("case_id"))


def as_requests(requests: Iterable) -> list[EditRequest]:
    out = [r if isinstance(r, EditRequest) else EditRequest.from_dict(r) for r in requests]
    validate(out)
    return out


def validate(requests: list[EditRequest]) -> None:
    """Refuse requests that would make a silently wrong edit."""
    if not requests:
        raise EditRequestError("no edit requests given")
    seen: dict[tuple[str, str], str] = {}
    for r in requests:
        tag = f"request {r.case_id!r}" if r.case_id is not None else f"request {r.subject!r}"
        if not isinstance(r.target_new, str) or not r.target_new.strip():
            raise EditRequestError(f"{tag}: target_new is empty or whitespace-only")
        if not r.subject or not r.subject.strip():
            raise EditRequestError(f"{tag}: subject is empty")
        if r.prompt.count("{}") != 1:
            if r.subject in r.prompt:
                raise EditRequestError(f"{tag}: the prompt must hold the subject as '{{}}', "
                                       f"e.g. {r.prompt.replace(r.subject, '{}', 1)!r}")
            raise EditRequestError(f"{tag}: subject {r.subject!r} is not in the prompt {r.prompt!r} "
                                   "(expected exactly one '{}' placeholder)")
        key = (r.prompt, r.subject)
        if key in seen and seen[key] != r.target_new:
            raise EditRequestError(f"{tag}: two requests for subject {r.subject!r} and prompt "
                                   f"{r.prompt!r} ask for different targets ({seen[key]!r} vs "
                                   f"{r.target_new!r}) in one batch")
        seen[key] = r.target_new


def check_finite(name: str, tensor) -> None:
    import torch

    if not torch.isfinite(tensor).all():
        bad = (~torch.isfinite(tensor)).sum().item()
        raise FloatingPointError(f"{name} holds {bad} NaN/inf value(s); refusing to edit")


def target_text(target: str) -> str:
    """Targets are scored and written with one leading space, as CounterFact does."""
    return target if target.startswith(" ") else " " + target


__all__ = ["EditRequest", "EditRequestError", "as_requests", "validate", "check_finite",
           "target_text"]
