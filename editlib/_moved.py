"""Old module paths, from before the package was split into layers: ``import editlib.models``
still works (with a DeprecationWarning naming the new place) for code written against the
flat layout. New code imports from the subpackages."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

MOVED = {
    "config": ["base.paths", "base.cache", "base.seeding", "base.precision", "engine.loading"],
    "errors": ["base.errors"], "checks": ["base.checks"], "precision": ["base.precision"],
    "fingerprint": ["engine.fingerprint"], "models": ["engine.architectures", "engine.loading"],
    "testing": ["engine.tiny"], "hparams": ["engine.settings", "engine.methods", "engine.presets"],
    "stats": ["engine.covariance", "engine.corpus"], "evaluate": ["evaluation.evaluate", "evaluation.statistics"],
    "plots": ["experiments.plots"], "provenance": ["experiments.provenance"],
    "data": ["evaluation.data"], "metrics": ["evaluation.metrics"],
    **{m: [f"engine.{m}"] for m in ("requests", "prompts", "hooks", "lm", "templates", "keys", "values", "corpus",
                                    "solvers", "distribute", "ledger", "preserved", "editor")},
    **{m: [f"suite.{m}"] for m in ("profiles", "runs", "cluster", "shards", "report", "agreement")},
}


class _Alias(types.ModuleType):
    """An old module: each name is read from the first new module that has it."""

    def __init__(self, name: str, targets: list[str]):
        super().__init__(name)
        self.__targets = targets
        if any(hasattr(importlib.import_module(f"editlib.{t}"), "__path__") for t in targets):
            self.__path__ = []                      # a package: its old submodules resolve too

    def __getattr__(self, attr: str):
        for target in self.__targets:
            module = importlib.import_module(f"editlib.{target}")
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} (now {', '.join(self.__targets)}) has no attribute {attr!r}")


def _targets(fullname: str) -> list[str] | None:
    """The new modules of an old path: editlib.data.splits -> [evaluation.data.splits]."""
    root, _, rest = fullname.partition(".")
    head, _, sub = rest.partition(".")
    if root != "editlib" or head not in MOVED:
        return None
    return [f"{MOVED[head][0]}.{sub}"] if sub else MOVED[head]


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if _targets(fullname) else None

    def create_module(self, spec):
        targets = _targets(spec.name)
        warnings.warn(f"{spec.name} has moved to {', '.join(f'editlib.{t}' for t in targets)}", DeprecationWarning,
                      stacklevel=3)
        return _Alias(spec.name, targets)

    def exec_module(self, module):
        pass


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
