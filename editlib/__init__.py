"""editlib: closed-form model editing (ROME, MEMIT, EMMET) in one preservation–memorization
framework (Gupta, Sajnani, Anumanchipalli 2024), with CounterFact evaluation."""
from .editor import Editor, EditResult
from .errors import (CacheWarning, DatasetError, EditlibError, EditRequestError, HyperparameterError,
                     ModelLoadError, RestoreOrderError, SingularSystemError, UnknownArchitectureError)
from .hparams import (METHODS, EditHparams, EmmetConfig, MemitConfig, RomeConfig, available_presets,
                      get_method, load_preset, register_method)
from .ledger import restore
from .models import ARCHITECTURES, Architecture, get_architecture, load_model, register_architecture
from .requests import EditRequest

__all__ = ["Editor", "EditResult", "EditRequest", "restore",
           "EditlibError", "EditRequestError", "HyperparameterError", "DatasetError", "SingularSystemError",
           "UnknownArchitectureError", "ModelLoadError", "RestoreOrderError", "CacheWarning",
           "EditHparams", "RomeConfig", "MemitConfig", "EmmetConfig", "METHODS", "get_method",
           "register_method", "load_preset", "available_presets", "load_model", "Architecture",
           "ARCHITECTURES", "register_architecture", "get_architecture"]
