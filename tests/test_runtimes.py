"""The instructors' run-time records, the GPU estimate and the pages and sentences rendered from
them (splitbrain.chapter_times)."""
import ast
import json
from pathlib import Path

from splitbrain.book import chapter_notebooks, chapter_title
from splitbrain.chapter_times import (ESTIMATE_RECORD, SEEN_MARKER, estimate_text, instructor_page, needs,
                                      read_estimate, record_runtimes, runtime_page, runtime_records)

ROOT = Path(__file__).resolve().parent.parent


def test_record_runtimes_writes_one_complete_record(tmp_path):
    seconds = {"notebooks/01_color_spaces.ipynb": 12.5, "notebooks/05_pretraining.ipynb": 77.0}
    path = record_runtimes(tmp_path, "cpu", seconds)
    assert path == tmp_path / "runtimes" / "cpu.json"
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
    assert "| total | **1.0&nbsp;min** | **1.5&nbsp;min** |  |" in page  # a total never wraps
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
    assert "| what the chapter prints | `smoke`, seed 0 | `cpu`, seeds 0\u20112 |" in page
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
    records = runtime_records(ROOT / "results")
    assert {record["preset"] for record in records} >= {"smoke", "cpu"}
    for record in records:
        for stem in chapter_stems():
            recorded = record["seen"].get(f"notebooks/{stem}.ipynb", {})
            assert all(len(item["values"]) == len(record["seeds"]) for item in recorded.values()), (record["preset"], stem)
            fixed = {name for name in recorded if not name.startswith("gap_")}  # chapter 8 names its rows at run time
            assert fixed == seen_names(stem), (record["preset"], stem)
    assert len(next(r for r in records if r["preset"] == "cpu")["seeds"]) >= 3


ESTIMATE = {"counted": "matmuls", "not_counted": "loading",
            "efficiency": {"NVIDIA T4": {"low": 0.1, "high": 0.4, "fp16_tflops": 65.0}},
            "presets": {"colab": {"a": {"minutes": {"NVIDIA T4": [1.47, 5.88]},
                                        "repeat_minutes": {"NVIDIA T4": [0.0, 0.0]}},
                                  "b": {"minutes": {"NVIDIA T4": [12.3, 49.0]},
                                        "repeat_minutes": {"NVIDIA T4": [1.47, 5.88]}}}}}


def test_the_gpu_column_shows_the_estimate_beside_not_measured_until_a_gpu_run_is_recorded():
    records = [{"preset": "cpu", "machine": "m", "date": "d", "seconds": {"a.ipynb": 90.0, "c.ipynb": 5.0}}]
    page = runtime_page(records, ESTIMATE, titles={"a.ipynb": "5. Pretraining"})
    assert "| 5. Pretraining | 90 | not measured; estimated T4 1.5-5.9 min |" in page
    assert "| `c.ipynb` | 5 | not measured |" in page  # a chapter that trains nothing has no estimate
    assert "Estimated, not measured" in page and "10-40 % of the T4's 65 TFLOP/s fp16 peak" in page
    timed = runtime_page(records + [{"preset": "colab", "machine": "T4", "date": "d", "seconds": {"a.ipynb": 60.0}}],
                         ESTIMATE)
    assert "estimated" not in timed and "Estimated" not in timed  # a measurement replaces the estimate


def test_estimate_text_rounds_each_range_as_far_as_it_is_worth():
    assert estimate_text(ESTIMATE, "colab", "b") == "T4 12-49 min"
    assert estimate_text(ESTIMATE, "colab", "a", "repeat_minutes") == "T4 under 0.1 min"
    assert estimate_text(ESTIMATE, "colab", "missing") == "" and estimate_text(None, "colab", "a") == ""


def test_the_instructor_page_gives_each_chapters_gpu_estimate_and_what_repeats_chapter_5():
    page = instructor_page("<!-- seen: b -->\n<!-- seen: a -->\n<!-- seen: c -->\n", [], ESTIMATE)
    assert "estimated T4 12-49 min, of which T4 1.5-5.9 min pretrain chapter 5's network again" in page
    assert "estimated T4 1.5-5.9 min (see" in page  # nothing repeated: no "of which"
    assert "not measured; the chapter trains no network" in page


def test_a_recorded_gpu_run_replaces_the_estimate_on_the_instructor_page_and_in_the_needs_line(tmp_path):
    colab = {"preset": "colab", "machine": "Tesla T4", "date": "d", "seconds": {"notebooks/b.ipynb": 300.0}}
    page = instructor_page("<!-- seen: b -->\n<!-- seen: a -->\n", [colab], ESTIMATE)
    assert "- **On a GPU (`colab`):** measured 5.0 min (Tesla T4) (see the run-time page)." in page
    assert "estimated T4 1.5-5.9 min (see" in page  # chapter a has no GPU record: still the estimate
    record_runtimes(tmp_path, "colab", {"notebooks/b.ipynb": 300.0})
    (tmp_path / ESTIMATE_RECORD).parent.mkdir(parents=True)
    (tmp_path / ESTIMATE_RECORD).write_text(json.dumps(ESTIMATE))
    text = needs("b", tmp_path)
    assert "`colab` 5.0 min" in text and "estimated" not in text


def test_the_repeat_of_chapter_5_is_named_when_any_gpu_takes_a_tenth_of_a_minute_for_it():
    both = {"NVIDIA T4": {"low": 0.1, "high": 0.4, "fp16_tflops": 65.0},
            "NVIDIA H100 SXM": {"low": 0.03, "high": 0.2, "fp16_tflops": 989.5}}
    estimate = dict(ESTIMATE, efficiency=both, presets={"colab": {"b": {
        "minutes": {"NVIDIA T4": [2.0, 8.0], "NVIDIA H100 SXM": [0.1, 0.5]},
        "repeat_minutes": {"NVIDIA T4": [0.3, 1.0], "NVIDIA H100 SXM": [0.01, 0.05]}}}})
    assert "of which T4 0.3-1.0 min, H100 under 0.1 min pretrain chapter 5's network again" in instructor_page(
        "<!-- seen: b -->\n", [], estimate)


def test_needs_lines_come_from_the_records(tmp_path):
    record_runtimes(tmp_path, "cpu", {"notebooks/b.ipynb": 100.0, "notebooks/05_pretraining.ipynb": 54.0})
    (tmp_path / ESTIMATE_RECORD).parent.mkdir(parents=True)
    (tmp_path / ESTIMATE_RECORD).write_text(json.dumps(ESTIMATE))
    text = needs("b", tmp_path, repeats_chapter_5=True)
    assert "`cpu` 1.7 min." in text and "adds chapter 5's time (`cpu` 54 s)" in text
    assert "estimated from the counted FLOPs at T4 12-49 min on a fresh runtime (T4 1.5-5.9 min of it" in text
    assert needs("nothing", tmp_path).startswith("No measured run yet.")


def test_the_committed_gpu_estimate_is_the_count_of_the_chapters_as_they_are_now():
    """Chapters or presets that change their work make the estimate stale: count again with
    ``python -m benchmarks.budget --chapters --write-estimate``."""
    from benchmarks import budget

    peaks = budget.read_gpu_peaks(ROOT / "results" / "reference" / budget.GPU_PEAKS_CSV)
    assert read_estimate(ROOT / "results") == json.loads(json.dumps(budget.chapter_estimate(peaks, ROOT)))


def test_chapter_titles_are_the_notebooks_first_heading():
    assert chapter_title(ROOT / "notebooks" / "05_pretraining.ipynb").startswith("5. ")


def test_every_chapter_takes_its_times_from_the_records_and_types_none():
    """A chapter's opening states what it needs in words; every time comes from
    :func:`~splitbrain.chapter_times.needs` (chapters 6 and 7 add what repeating chapter 5 costs)."""
    import re

    for stem in chapter_stems():
        source = (ROOT / "notebooks" / f"{stem}.py").read_text()
        repeats = ", repeats_chapter_5=True" if stem.startswith(("06", "07")) else ""
        assert f'needs("{stem}"{repeats})' in source, stem
        opening = re.search(r"^# \*\*Needs:\*\*.*?(?=\n\n)", source, re.S | re.M)[0]
        assert not re.search(r"\b(minutes?|seconds?|hours?)\b", opening), (stem, opening)
