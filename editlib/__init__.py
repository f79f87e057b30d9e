"""editlib: closed-form model editing (ROME, MEMIT, EMMET) in one preservation–memorization
framework (Gupta, Sajnani, Anumanchipalli 2024), with CounterFact evaluation."""
from .editor import Editor, EditResult
from .hparams import (METHODS, EditHparams, EmmetConfig, MemitConfig, RomeConfig, available_presets,
                      get_method, load_preset, register_method)
from .models import (ARCHITECTURES, Architecture, UnknownArchitectureError, get_architecture, load_model,
                     register_architecture)
from .requests import EditRequest, EditRequestError
from .solvers import SingularSystemError

__all__ = ["Editor", "EditResult", "EditRequest", "EditRequestError", "SingularSystemError",
           "EditHparams", "RomeConfig", "MemitConfig", "EmmetConfig", "METHODS", "get_method",
           "register_method", "load_preset", "available_presets", "load_model", "Architecture",
           "ARCHITECTURES", "register_architecture", "get_architecture", "UnknownArchitectureError"]
