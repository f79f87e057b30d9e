"""The package's layers, checked on its imports (every ``import``, lazy ones inside functions
too): base ← engine ← evaluation ← experiments ← suite, each importing only layers to its
left; the loader knows models only through its registry; nothing imports the package's face."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "editlib"
ORDER = ["base", "engine", "evaluation", "experiments", "suite"]


def _module(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of the package made in ``path``."""
    mod = _module(path, root)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found += [(node.lineno, _imported(target, a.name, root)) for a in node.names]
    return [(line, t) for line, t in found if t == root.name or t.startswith(root.name + ".")]


def _imported(target: str, name: str, root: Path) -> str:
    """``from target import name``: the module ``target.name`` when it is one, else ``target``."""
    path = root.parent.joinpath(*f"{target}.{name}".split("."))
    return f"{target}.{name}" if path.with_suffix(".py").exists() or (path / "__init__.py").exists() else target


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else None


def violations(root: Path = PACKAGE) -> list[str]:
    """Every import that breaks a rule, as "file:line: what"."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        here = layer(_module(path, root))
        if here is None:
            continue                                   # the package's face and its aliases
        for line, target in imports(path, root):
            where = f"{path.relative_to(root.parent)}:{line}"
            there = layer(target)
            if target == root.name:
                bad.append(f"{where}: {here} imports the package's face ({target})")
            elif there is not None and ORDER.index(there) > ORDER.index(here):
                bad.append(f"{where}: {here} imports {target} (the {there} layer sits above it)")
            if target.startswith(f"{root.name}.testing") or target == f"{root.name}.engine.model.tiny" and \
                    path.name == "loading.py":
                bad.append(f"{where}: {target} (models reach the loader through its registry only)")
    return bad


def test_every_import_goes_down_the_layers():
    assert violations() == []


def test_the_layers_are_the_folders():
    assert sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and p.name != "presets") == \
        sorted(ORDER)


@pytest.mark.parametrize("file, source, complaint", [
    ("engine/algebra/solvers.py", "from ...evaluation import statistics\n", "engine imports editlib.evaluation"),
    ("base/cache.py", "def f():\n    from editlib.engine import loading\n", "base imports editlib.engine"),
    ("evaluation/x.py", "from ..suite.runs import plan\n", "evaluation imports editlib.suite.runs"),
    ("experiments/y.py", "from .. import Editor\n", "imports the package's face"),
    ("engine/model/loading.py", "from .tiny import TINY\n", "through its registry only"),
])
def test_the_check_sees_an_import_that_goes_up(tmp_path, file, source, complaint):
    root = tmp_path / "editlib"
    for name in ORDER:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    (root / file).parent.mkdir(parents=True, exist_ok=True)
    (root / file).write_text(source)
    found = violations(root)
    assert len(found) == 1 and complaint in found[0], found


def test_old_module_paths_are_gone():
    """The flat layout's paths (``editlib.models``, ``editlib.data``) are not kept alive: one
    place per name, no import hook."""
    import importlib
    import sys

    import editlib  # noqa: F401

    assert not any(type(f).__module__.startswith("editlib") for f in sys.meta_path)
    for old in ("editlib.models", "editlib.hparams", "editlib.data.splits", "editlib.engine.values"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)


def test_the_engine_is_grouped_by_the_steps_of_an_edit():
    groups = sorted(p.name for p in (PACKAGE / "engine").iterdir() if (p / "__init__.py").exists())
    assert groups == ["algebra", "edit", "model", "statistics", "targets"]
    assert sorted(p.name for p in (PACKAGE / "engine").glob("*.py")) == ["__init__.py"]


def test_the_face_exports_every_method_and_its_config():
    import editlib

    for method in editlib.METHODS.values():
        assert method.config_cls.__name__ in editlib.__all__
        assert getattr(editlib, method.config_cls.__name__) is method.config_cls


def test_docstrings_name_modules_that_exist():
    """Every ``~editlib.a.b.C`` / ``editlib.a.b`` reference in the package's text resolves to a
    module (and, where it names one, an attribute of it)."""
    import importlib
    import re

    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for ref in set(re.findall(r"`~?(editlib(?:\.\w+)+)`", path.read_text())):
            parts = ref.split(".")
            for k in range(len(parts), 0, -1):          # the longest importable prefix, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:k]))
                except ModuleNotFoundError:
                    continue
                try:
                    for attr in parts[k:]:
                        obj = getattr(obj, attr)
                except AttributeError:
                    bad.append(f"{path.relative_to(PACKAGE.parent)}: {ref}")
                break
            else:
                bad.append(f"{path.relative_to(PACKAGE.parent)}: {ref}")
    assert bad == []
