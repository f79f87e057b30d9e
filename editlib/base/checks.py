"""Range and type checks for settings, raising :class:`~editlib.base.errors.HyperparameterError`
with the setting's name, what it must be and what it got."""
from __future__ import annotations

import math
import numbers

from .errors import HyperparameterError


def number(name: str, value, *, low: float | None = None, strict: bool = False, integer: bool = False,
           high: float | None = None):
    """``value`` as a finite real (an int with ``integer``) with ``value ≥ low`` (``> low``
    with ``strict``) and ``≤ high``."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        raise HyperparameterError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise HyperparameterError(f"{name} must be finite, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise HyperparameterError(f"{name} must be {'>' if strict else '≥'} {low}, got {value!r}")
    if high is not None and value > high:
        raise HyperparameterError(f"{name} must be ≤ {high}, got {value!r}")
    return value


def choice(name: str, value, options) -> None:
    if value not in options:
        raise HyperparameterError(f"{name} must be one of {list(options)}, got {value!r}")


def dtype_name(name: str, value) -> None:
    """None or a compute precision name (see :mod:`editlib.base.precision`)."""
    from .precision import DTYPES

    if value is not None:
        choice(name, value, DTYPES)
