"""The committed chapter notebooks: output-free, in sync with their py:percent sources."""
import ast
from pathlib import Path

import jupytext
import nbformat
import pytest

from splitbrain.book import chapter_notebooks, toc_files

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("*.py"))


def test_every_source_has_a_committed_notebook_listed_in_the_toc():
    listed = set(toc_files(ROOT / "_toc.yml"))
    for source in SOURCES:
        assert source.with_suffix(".ipynb").exists(), f"{source.name} has no paired .ipynb"
        assert f"notebooks/{source.stem}" in listed, f"{source.name} is not in _toc.yml"
    assert len(chapter_notebooks(ROOT)) == len(SOURCES)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_has_no_outputs(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} of {source.stem}.ipynb has outputs"
            assert cell.execution_count is None, f"cell {index} of {source.stem}.ipynb has an execution count"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_matches_its_py_pair(source):
    from_py = jupytext.read(source)
    committed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in from_py.cells] == [
        (c.cell_type, c.source) for c in committed.cells
    ], f"{source.stem}.ipynb differs from {source.name}: run `jupytext --sync {source.name}`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_layout(source):
    """Title cell, setup cell, the chapter's times (from records) and what to see, then a
    parameters cell whose first knob is PRESET = "auto"."""
    cells = jupytext.read(source).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert "colab.research.google.com" in cells[0].source and "**Needs:**" in cells[0].source
    assert cells[1].cell_type == "code" and "find_spec(\"splitbrain\")" in cells[1].source
    assert cells[2].cell_type == "code" and "needs(" in cells[2].source
    assert cells[3].cell_type == "markdown" and cells[3].source.startswith("**You should see:**")
    parameters = cells[4]
    assert "parameters" in parameters.metadata.get("tags", [])
    assert parameters.source.splitlines()[0] == 'PRESET = "auto"'
    assert any(c.cell_type == "markdown" and c.source.startswith("## Exercises") for c in cells)
    metadata = jupytext.read(source).metadata
    assert metadata.get("accelerator") == "GPU", "notebook metadata must ask Colab for a GPU"


HIDDEN_TAGS = {"remove-input", "remove-cell", "hide-input"}


def _code_cells(source):
    """(index, cell, syntax tree) of every code cell; IPython magics and shell lines are blanked."""
    for index, cell in enumerate(jupytext.read(source).cells):
        if cell.cell_type == "code":
            python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
            yield index, cell, ast.parse(python)


def _outside_functions(tree):
    """Every node of ``tree`` except those inside a function or class definition."""
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def _called_name(call):
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_visible_code_holds_only_the_idea(source):
    """A cell the book shows (not tagged remove-input, remove-cell or hide-input) calls no ``glue``
    (the prose's bookkeeping lives in the hidden cell that writes the prose) and is never just a
    name such as ``fig`` (a figure is shown by the cell that makes it)."""
    for index, cell, tree in _code_cells(source):
        if HIDDEN_TAGS & set(cell.metadata.get("tags", [])):
            continue
        glued = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and _called_name(node) == "glue"]
        assert not glued, f"{source.name}, cell {index}: glue(...) in a visible cell (lines {glued}); move it to the hidden prose cell"
        body = tree.body
        assert not (len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Name)), (
            f"{source.name}, cell {index} is only the name {cell.source.strip()!r}: show the figure where it is made")


def _shows_a_figure(tree):
    """Whether the cell draws a figure itself: a call of ``plot_*`` or ``*_figure`` outside any definition."""
    return any(isinstance(node, ast.Call) and (_called_name(node) or "").startswith("plot_")
               or isinstance(node, ast.Call) and (_called_name(node) or "").endswith("_figure")
               for node in _outside_functions(tree))


def test_every_figure_has_a_numbered_caption_and_an_alt_text():
    """Each cell that draws a figure carries MyST-NB figure metadata: a unique ``fig-`` name (which
    numbers the figure), a caption that says what to see, and an alt text that describes the figure
    (without it the image's alt text is its file path)."""
    names = {}
    for source in SOURCES:
        for index, cell, tree in _code_cells(source):
            if not _shows_a_figure(tree):
                continue
            where = f"{source.name}, cell {index}"
            mystnb = cell.metadata.get("mystnb", {})
            figure, image = mystnb.get("figure", {}), mystnb.get("image", {})
            assert figure.get("name", "").startswith("fig-"), f"{where}: figure has no name (fig-...), so no number"
            assert figure["name"] not in names, f"{where}: figure name {figure['name']} also used by {names[figure['name']]}"
            names[figure["name"]] = where
            caption, alt = figure.get("caption", ""), image.get("alt", "")
            assert len(caption.split()) >= 8, f"{where}: the caption should say what to see: {caption!r}"
            assert len(alt.split()) >= 8 and alt != caption, f"{where}: the alt text should describe the figure: {alt!r}"
    assert len(names) >= 8, "no figure metadata found: has the cell metadata format changed?"
