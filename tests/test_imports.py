"""The package's import graph: no circle (so its modules stand on floors, every import pointing
down), every third-party module it imports declared in pyproject.toml, and ``splitbrain --help``
without the book builder."""
from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "splitbrain"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_names(path: Path, name: str) -> set[str]:
    """Every absolute module name an ``import`` in ``path`` (at any depth, functions included)
    names, relative imports resolved against the module ``name``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (the ``splitbrain`` command's subcommand modules,
    loaded by name, count as imported by ``splitbrain.cli``)."""
    from splitbrain.cli import TOOLS

    modules = package_modules()
    graph = {name: {target for target in imported_names(path, name) if target in modules and target != name}
             for name, path in modules.items()}
    graph["splitbrain.cli"] |= {f"splitbrain{module}" for module, _ in TOOLS.values()}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (a list of modules, the first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_imports_in_no_circle():
    graph = import_graph()
    assert len(graph) > 30 and "splitbrain.models" in graph["splitbrain.checkpoint"]
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)
    # the checker finds a circle when there is one
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_third_party_module_the_package_imports_is_declared():
    declared = {requirement.split(";")[0].strip().lower().replace("_", "-")
                for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for name, path in package_modules().items():
        for imported in imported_names(path, name):
            top = imported.split(".")[0]
            if top in sys.stdlib_module_names or top in ("splitbrain", "__future__", ""):
                continue
            providers = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
            if not providers & declared:
                missing.setdefault(top, set()).add(name)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_help_does_not_load_the_book_builder():
    code = ("import sys\nfrom splitbrain.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('splitbrain.book', 'yaml', 'papermill') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_configuration_stands_on_the_ground_floor():
    """The vocabularies import nothing; the configurations import only them; the modules that
    build the named things use the same names."""
    from splitbrain import color, vocabulary

    graph = import_graph()
    assert graph["splitbrain.vocabulary"] == set()
    assert graph["splitbrain.presets"] == {"splitbrain.vocabulary"}
    assert tuple(color.COLOR_SPACES) == vocabulary.COLOR_SPACE_NAMES
