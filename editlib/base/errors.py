"""editlib's own errors: each names the problem and, where there is one, the fix.

Every class derives from :class:`EditlibError` (``except editlib.EditlibError`` catches
them all) and from the built-in exception a caller would otherwise expect (``ValueError``
for bad values, ``KeyError`` for unknown names, ``OSError`` for files), so code written
against the built-ins keeps working.
"""
from __future__ import annotations


class EditlibError(Exception):
    """Base class of every error editlib raises on purpose."""


class EditRequestError(EditlibError, ValueError):
    """A request that cannot be edited as given (raised before any statistics or z)."""


class HyperparameterError(EditlibError, ValueError):
    """A setting out of range or of the wrong type (raised when the config is built)."""


class UnknownNameError(HyperparameterError, KeyError):
    """An unknown method or preset name."""

    def __str__(self) -> str:
        return self.args[0]


class UnknownSettingError(HyperparameterError, TypeError):
    """A keyword that is no setting of the pipeline or of the method."""


class DatasetError(EditlibError, ValueError):
    """A dataset file or evaluation case that cannot be used as given."""


class SingularSystemError(EditlibError, ValueError):
    """The linear system of an objective has no (numerically) unique solution."""


class UnknownArchitectureError(EditlibError, KeyError):
    """A ``config.model_type`` editlib has no :class:`~editlib.engine.model.architectures.Architecture` for."""

    def __str__(self) -> str:
        return self.args[0]


class ModelLoadError(EditlibError, OSError):
    """A model name, path or file that cannot be loaded."""


class RestoreOrderError(EditlibError, RuntimeError):
    """Restoring one Editor's edits would also undo a later edit of another Editor."""


class CacheWarning(UserWarning):
    """A cache entry could not be read; it is recomputed and replaced."""
