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
            if target.startswith(f"{root.name}.testing") or target == f"{root.name}.engine.tiny" and \
                    path.name == "loading.py":
                bad.append(f"{where}: {target} (models reach the loader through its registry only)")
    return bad


def test_every_import_goes_down_the_layers():
    assert violations() == []


def test_the_layers_are_the_folders():
    assert sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and p.name != "presets") == \
        sorted(ORDER)


@pytest.mark.parametrize("file, source, complaint", [
    ("engine/solvers.py", "from ..evaluation import statistics\n", "engine imports editlib.evaluation"),
    ("base/cache.py", "def f():\n    from editlib.engine import loading\n", "base imports editlib.engine"),
    ("evaluation/x.py", "from ..suite.runs import plan\n", "evaluation imports editlib.suite.runs"),
    ("experiments/y.py", "from .. import Editor\n", "imports the package's face"),
    ("engine/loading.py", "from .tiny import TINY\n", "through its registry only"),
])
def test_the_check_sees_an_import_that_goes_up(tmp_path, file, source, complaint):
    root = tmp_path / "editlib"
    for name in ORDER:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    (root / file).write_text(source)
    found = violations(root)
    assert len(found) == 1 and complaint in found[0], found


def test_old_module_paths_still_import_with_a_warning():
    """Code written against the flat layout (``editlib.models``, ``editlib.data.splits``) keeps working."""
    import importlib
    import sys

    import editlib

    for old in [m for m in sys.modules if m.startswith(("editlib.models", "editlib.hparams", "editlib.data"))]:
        del sys.modules[old]
    with pytest.warns(DeprecationWarning, match="editlib.models has moved to editlib.engine.architectures"):
        models = importlib.import_module("editlib.models")
    assert models.load_model is editlib.load_model and models.Architecture is editlib.Architecture
    with pytest.warns(DeprecationWarning):
        from editlib.hparams import EditHparams, MemitConfig, load_preset
    assert (EditHparams, MemitConfig, load_preset) == (editlib.EditHparams, editlib.MemitConfig, editlib.load_preset)
    with pytest.warns(DeprecationWarning):
        from editlib.data.splits import split_cases
    from editlib.evaluation.data.splits import split_cases as new

    assert split_cases is new
