"""The instructors' run-time records and the page rendered from them (splitbrain.book)."""
import ast
import json
from pathlib import Path

from splitbrain.book import (SEEN_MARKER, chapter_notebooks, instructor_page, record_runtimes, runtime_page,
                             runtime_records)

ROOT = Path(__file__).resolve().parent.parent


def test_record_runtimes_writes_one_complete_record(tmp_path):
    seconds = {"notebooks/01_color_spaces.ipynb": 12.5, "notebooks/05_pretraining.ipynb": 77.0}
    path = record_runtimes(tmp_path, "cpu", seconds)
    assert path == tmp_path / "results" / "runtimes" / "cpu.json"
    record = json.loads(path.read_text())
    assert record["preset"] == "cpu" and record["seconds"] == seconds
    assert "CPU cores" in record["machine"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["cpu.json"]  # no temporary left behind
    record_runtimes(tmp_path, "cpu", {"notebooks/01_color_spaces.ipynb": 3.0})  # a re-run replaces it
    assert json.loads(path.read_text())["seconds"] == {"notebooks/01_color_spaces.ipynb": 3.0}


def test_runtime_page_has_a_column_per_preset_and_totals():
    records = [
        {"preset": "smoke", "machine": "m", "date": "d", "seconds": {"a.ipynb": 30.0, "b.ipynb": 30.0}},
        {"preset": "cpu", "machine": "m", "date": "d", "seconds": {"a.ipynb": 90.0}},
    ]
    page = runtime_page(records)
    assert "| chapter | `smoke` (s) | `cpu` (s) | Colab GPU (`colab`) |" in page
    assert "| `a.ipynb` | 30 | 90 | not measured |" in page and "| `b.ipynb` | 30 |  | not measured |" in page
    assert "| total | **1.0 min** | **1.5 min** |  |" in page
    assert "no GPU has run the chapters yet" in page
    # a recorded GPU run is a column like the others
    gpu = runtime_page(records + [{"preset": "colab", "machine": "T4", "date": "d", "seconds": {"a.ipynb": 60.0}}])
    assert "| chapter | `smoke` (s) | `cpu` (s) | `colab` (s) |" in gpu and "not measured" not in gpu
    assert "No run times have been recorded yet." in runtime_page([])


def test_record_runtimes_keeps_each_seeds_seen_numbers_in_seed_order(tmp_path):
    seen_by_seed = {
        2: {"notebooks/05_pretraining.ipynb": {"gap": {"what": "gap, points", "value": 5.0}}},
        0: {"notebooks/05_pretraining.ipynb": {"gap": {"what": "gap, points", "value": 3.0}}},
    }
    record = json.loads(record_runtimes(tmp_path, "cpu", {"notebooks/05_pretraining.ipynb": 70.0}, seen_by_seed).read_text())
    assert record["seeds"] == [0, 2]
    assert record["seen"] == {"notebooks/05_pretraining.ipynb": {"gap": {"what": "gap, points", "values": [3.0, 5.0]}}}


def test_the_instructor_page_shows_each_chapters_numbers_as_ranges_over_seeds():
    records = [
        {"preset": "smoke", "seeds": [0], "seen": {"notebooks/05_pretraining.ipynb": {
            "loss": {"what": "held-out loss", "values": [4.71234]}}}},
        {"preset": "cpu", "seeds": [0, 1, 2], "seen": {"notebooks/05_pretraining.ipynb": {
            "loss": {"what": "held-out loss", "values": [3.2, 3.01, 3.1]},
            "seconds": {"what": "time, s", "values": [1500.0, 1499.9, 1620.4]},
            "classes": {"what": "a*b* classes", "values": [313.0, 313.0, 313.0]}}}},
    ]
    text = "## 5\n- **Key takeaways:** x\n<!-- seen: 05_pretraining -->\n- **Exercises:** y\n<!-- seen: 01_color_spaces -->\n"
    page = instructor_page(text, records)
    assert "<!-- seen:" not in page
    assert "| what the chapter prints | `smoke`, seed 0 | `cpu`, seeds 0-2 |" in page
    assert "| held-out loss | 4.71 | 3.01 to 3.2 |" in page
    assert "| time, s |  | 1,500 to 1,620 |" in page and r"| a\*b\* classes |  | 313 |" in page
    assert "|\n\n- **Exercises:** y" in page  # the table ends before the next bullet
    assert "no recorded run of this chapter yet" in page.split("- **Exercises:** y")[1]


def chapter_stems():
    return [path.stem for path in chapter_notebooks(ROOT)]


def seen_names(stem: str) -> set[str]:
    """The names a chapter's source marks as "you should see": ``glue("name", ..., seen=...)``
    with a literal name (chapter 8 names its rows in an f-string)."""
    tree = ast.parse((ROOT / "notebooks" / f"{stem}.py").read_text())
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glue"
            and any(keyword.arg == "seen" for keyword in node.keywords)
            and isinstance(node.args[0], ast.Constant)}


def test_every_chapter_marks_numbers_and_the_instructor_page_has_a_place_for_them():
    page = (ROOT / "book" / "instructor.md").read_text()
    assert [match["chapter"] for match in SEEN_MARKER.finditer(page)] == chapter_stems()
    for stem in chapter_stems()[:7]:  # chapter 8 reads its numbers from records; it marks the shipped probe's
        assert seen_names(stem), f"{stem} marks no number as 'you should see'"


def test_the_committed_runtime_records_hold_the_numbers_the_chapters_mark_now():
    """A chapter that marks another number, or stops marking one, makes its recorded numbers
    stale: record the runs again (``python -m splitbrain.book build --preset cpu --seeds 0 1 2
    --record-runtimes``)."""
    records = runtime_records(ROOT)
    assert {record["preset"] for record in records} >= {"smoke", "cpu"}
    for record in records:
        for stem in chapter_stems():
            recorded = record["seen"].get(f"notebooks/{stem}.ipynb", {})
            assert all(len(item["values"]) == len(record["seeds"]) for item in recorded.values()), (record["preset"], stem)
            fixed = {name for name in recorded if not name.startswith("gap_")}  # chapter 8 names its rows at run time
            assert fixed == seen_names(stem), (record["preset"], stem)
    assert len(next(r for r in records if r["preset"] == "cpu")["seeds"]) >= 3
