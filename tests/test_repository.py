"""The repository speaks of itself only (every Markdown document a tracked file names is in it),
its text names only what the package holds, and its layers stay in order (nothing outside
plots/ imports plots/)."""
import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {"runtimes.md"}  # written into the staged book by splitbrain.book at build time


def tracked_text_files() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    paths = [ROOT / name for name in names.splitlines()]
    return [p for p in paths if p.suffix in {".py", ".md", ".yml", ".toml", ".txt", ".cfg", ".bib", ".csv"} and p.is_file()]


def test_every_cited_document_is_in_the_repository():
    files = tracked_text_files()
    present = {p.name for p in files if p.suffix == ".md"} | GENERATED
    cited = {(p.relative_to(ROOT).as_posix(), name) for p in files
             for name in re.findall(r"\b[A-Za-z_][\w-]*\.md\b", p.read_text(encoding="utf-8", errors="replace"))}
    missing = sorted((where, name) for where, name in cited if name not in present)
    assert not missing, f"documents cited but not in the repository: {missing}"


def test_the_repository_url_is_written_once_and_every_link_follows_it():
    """Markdown cells and configuration files cannot import splitbrain.REPOSITORY_URL, so every
    copy of it is checked against the package's."""
    import yaml

    from splitbrain import RAW_URL, REPOSITORY_URL

    owner_repo = REPOSITORY_URL.removeprefix("https://github.com/")
    assert RAW_URL == f"https://raw.githubusercontent.com/{owner_repo}/main"
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"] == REPOSITORY_URL
    assert f"git clone {REPOSITORY_URL}" in (ROOT / "book" / "using.md").read_text()
    github = re.compile(r"https://(?:raw\.)?github(?:usercontent)?\.com/[\w.-]+/[\w.-]+")
    for source in sorted((ROOT / "notebooks").glob("*.py")):
        text = source.read_text()
        assert f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{source.stem}.ipynb" in text
        assert f'"git+{REPOSITORY_URL}"' in text, f"{source.name}: the setup cell installs from elsewhere"
        strays = [url for url in github.findall(text) if url != REPOSITORY_URL]
        assert not strays, f"{source.name}: repository URLs written out instead of splitbrain.RAW_URL: {strays}"


def test_no_chapter_carries_a_glue_role():
    """Jupyter and Colab show myst-nb's glue roles raw; numbers reach the prose through
    splitbrain.notebook.prose cells instead, which render the same everywhere."""
    role = re.compile(r"\{glue(?::\w*)?\}`")
    sources = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.md"))
    assert sources
    carrying = [p.name for p in sources if role.search(p.read_text(encoding="utf-8"))]
    assert not carrying, f"glue roles in {carrying}"


def imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of the modules ``path`` (a module of ``package``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names.update([module] + [f"{module}.{alias.name}" for alias in node.names])
    return names


def test_no_module_below_the_plots_imports_them():
    """plots/ draws figures from what the other modules compute; a module outside it that
    imported it would make drawing a dependency of training, evaluation or the reports. The one
    module above plots/ is ``notebook.py``, the chapters' set-up, which installs the figure
    display hook that records each shown figure's legibility."""
    source = ROOT / "splitbrain"
    above_plots = {source / "notebook.py"}
    outside = [p for p in sorted(source.rglob("*.py"))
               if "plots" not in p.relative_to(source).parts and p not in above_plots]
    assert len(outside) > 20
    importing = []
    for path in outside:
        package = ".".join(("splitbrain",) + path.relative_to(source).parent.parts)
        if any(name == "splitbrain.plots" or name.startswith("splitbrain.plots.")
               for name in imported_modules(path, package)):
            importing.append(str(path.relative_to(ROOT)))
    assert not importing, f"modules outside plots/ import it: {importing}"


def resolve_dotted_name(dotted: str) -> bool:
    """Whether ``splitbrain.a.b.c`` names a module, or an attribute reached from the longest
    importable module prefix."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def test_every_package_name_the_text_cites_exists():
    """Docs, chapters and docstrings name functions as `splitbrain.module.name`; a move or a
    rename leaves such a name behind unnoticed (the reference tables' README kept the CSV reader
    at its old place in plots/ after it moved)."""
    this_file = Path(__file__).resolve()
    cited = {(p.relative_to(ROOT).as_posix(), name) for p in tracked_text_files() if p != this_file
             for name in re.findall(r"`(splitbrain(?:\.[A-Za-z_]\w*)+)", p.read_text(encoding="utf-8", errors="replace"))}
    assert len(cited) > 20, "the pattern found almost no names; has the text's style changed?"
    stale = sorted((where, name) for where, name in cited if not resolve_dotted_name(name))
    assert not stale, f"names that no longer exist in the package: {stale}"
