"""The committed chapter notebooks: output-free, in sync with their py:percent sources."""
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
