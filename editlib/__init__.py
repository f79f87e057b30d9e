"""editlib: closed-form model editing (ROME, MEMIT, EMMET) in one preservation–memorization
framework (Gupta, Sajnani, Anumanchipalli 2024), with CounterFact evaluation.

Layers (docs/architecture.md): ``base`` (errors, checks, cache, paths, precision) under
``engine`` (edit requests to rewritten weights) under ``evaluation`` (data, metrics,
statistics) under ``experiments`` (drivers, tables, figures) under ``suite`` (the notebooks
run with papermill). The names below are the public API."""
from . import _moved
from .base.errors import (
    CacheWarning,
    DatasetError,
    EditlibError,
    EditRequestError,
    HyperparameterError,
    ModelLoadError,
    RestoreOrderError,
    SingularSystemError,
    UnknownArchitectureError,
)
from .engine.architectures import ARCHITECTURES, Architecture, get_architecture, register_architecture
from .engine.editor import Editor, EditResult
from .engine.ledger import restore
from .engine.loading import load_model, register_model
from .engine.methods import METHODS, EmmetConfig, MemitConfig, RomeConfig, get_method, register_method
from .engine.presets import available_presets, load_preset
from .engine.requests import EditRequest
from .engine.settings import EditHparams

__all__ = ["Editor", "EditResult", "EditRequest", "restore",
           "EditlibError", "EditRequestError", "HyperparameterError", "DatasetError", "SingularSystemError",
           "UnknownArchitectureError", "ModelLoadError", "RestoreOrderError", "CacheWarning",
           "EditHparams", "RomeConfig", "MemitConfig", "EmmetConfig", "METHODS", "get_method",
           "register_method", "load_preset", "available_presets", "load_model", "Architecture",
           "ARCHITECTURES", "register_architecture", "get_architecture", "register_model"]

_moved.install()
