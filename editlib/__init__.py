"""editlib: closed-form model editing (ROME, MEMIT, EMMET) in one preservation–memorization
framework (Gupta, Sajnani, Anumanchipalli 2024), with CounterFact evaluation.

Layers (docs/architecture.md): ``base`` (errors, checks, cache, paths, precision) under
``engine`` (edit requests to rewritten weights) under ``evaluation`` (data, metrics,
statistics) under ``experiments`` (drivers, tables, figures) under ``suite`` (the notebooks
run with papermill). The names below are the public API."""
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
    UnknownNameError,
    UnknownSettingError,
)
from .engine.edit.editor import Editor, EditResult
from .engine.edit.ledger import restore
from .engine.edit.methods import (
    METHODS,
    AlphaEditConfig,
    EmmetConfig,
    EncoreConfig,
    MemitConfig,
    RomeConfig,
    get_method,
    register_method,
)
from .engine.edit.presets import available_presets, load_preset
from .engine.edit.settings import EditHparams
from .engine.model.architectures import ARCHITECTURES, Architecture, get_architecture, register_architecture
from .engine.model.loading import load_model, register_model
from .engine.targets.requests import EditRequest

__all__ = ["Editor", "EditResult", "EditRequest", "restore",
           "EditlibError", "EditRequestError", "HyperparameterError", "DatasetError", "SingularSystemError",
           "UnknownArchitectureError", "UnknownNameError", "UnknownSettingError", "ModelLoadError",
           "RestoreOrderError", "CacheWarning",
           "EditHparams", "RomeConfig", "MemitConfig", "EmmetConfig", "AlphaEditConfig", "EncoreConfig", "METHODS",
           "get_method",
           "register_method", "load_preset", "available_presets", "load_model", "Architecture",
           "ARCHITECTURES", "register_architecture", "get_architecture", "register_model"]
