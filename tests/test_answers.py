"""The instructor page's answers stay in step with the chapters' exercises and with the package."""
from __future__ import annotations

import math
import re
import string
from pathlib import Path

import pytest

from splitbrain import answers
from splitbrain.answers import ANSWERS, CHAPTERS, answer_texts, read_answers, render_answers

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
INSTRUCTOR = REPO / "book" / "instructor.md"


def exercise_count(chapter: str) -> int:
    """The numbered items of the chapter's ``## Exercises`` markdown cell (jupytext percent file)."""
    text = (NOTEBOOKS / f"{chapter}.py").read_text()
    cell = text[text.index("# ## Exercises"):]
    cell = re.split(r"^# %%", cell, flags=re.MULTILINE)[0]
    return len(re.findall(r"^# (\d+)\. ", cell, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def record():
    stored = read_answers()
    assert stored is not None, "results/answers/exercises.json is missing: python -m splitbrain.answers --write"
    return stored


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_one_answer_per_exercise(chapter, record):
    count = exercise_count(chapter)
    assert count >= 5
    assert len(ANSWERS[chapter]) == count
    assert len(record["chapters"][chapter]) == count
    assert [entry["exercise"] for entry in record["chapters"][chapter]] == list(range(1, count + 1))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_placeholder_is_filled(chapter, record):
    for answer, entry in zip(ANSWERS[chapter], record["chapters"][chapter]):
        names = {field for _, field, _, _ in string.Formatter().parse(answer.text) if field}
        assert names <= set(entry["values"]), f"{chapter}: {names - set(entry['values'])} missing"
        assert entry["source"] == answer.source
    for text in answer_texts(chapter, record):
        assert "{" not in text and "}" not in text
        assert not re.search(r"\bnan\b", text, re.IGNORECASE), f"{chapter}: a number that is not one: {text}"


def test_sources_are_declared(record):
    for chapter in CHAPTERS:
        for answer in ANSWERS[chapter]:
            assert answer.source in answers.SOURCE_LABELS
            if answer.source == "direction":  # says plainly that no run gives the number
                assert "No recorded run" in answer.text
    # chapters 1 to 4 train no network: every answer is worked out
    assert all(a.source == "computed" for chapter in CHAPTERS[:4] for a in ANSWERS[chapter])


def _same(stored, fresh, where):
    if isinstance(fresh, float):
        assert isinstance(stored, (int, float)) and math.isclose(stored, fresh, rel_tol=1e-6, abs_tol=1e-9), where
    else:
        assert stored == fresh, where


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_record_matches_a_recomputation(chapter, record):
    """Every number the page shows is what the package and the committed records give now."""
    fresh = answers.compute_answers([chapter])["chapters"][chapter]
    for stored, now in zip(record["chapters"][chapter], fresh):
        assert set(stored["values"]) == set(now["values"]), f"{chapter} exercise {now['exercise']}"
        for name, value in now["values"].items():
            _same(stored["values"][name], value, f"{chapter} exercise {now['exercise']}: {name}")


def test_worked_answers_say_true_things():
    """Spot checks against facts the chapters state independently."""
    box = answers.ch1_box()
    assert (box["a_min_corner"], box["a_max_corner"], box["b_min_corner"], box["b_max_corner"]) == (
        "green", "magenta", "blue", "yellow")
    assert box["poster_a_low"] <= box["a_min"] and box["a_max"] <= box["poster_a_high"]
    assert box["poster_b_low"] <= box["b_min"] and box["b_max"] <= box["poster_b_high"]
    assert answers.ch1_saturated()["colour"] == "blue"
    grouped = answers.ch4_grouped()
    assert grouped["difference"] < 1e-4 and grouped["wasted"] == grouped["c1"] * grouped["k"]
    receptive = answers.ch4_receptive()
    assert receptive["conv1_rf"] == 5 and receptive["conv1_jump"] == 2  # the 5 x 5, stride 2 stem
    masking = answers.ch7_masking()
    assert masking["mse_p75"] == pytest.approx(masking["expected_p75"], rel=0.05)


def test_page_has_one_collapsed_block_per_chapter(record):
    source = INSTRUCTOR.read_text()
    markers = re.findall(r"^<!-- answers: ([\w.-]+) -->$", source, flags=re.MULTILINE)
    assert markers == list(CHAPTERS)
    # every chapter is a second-level heading, so the page's contents list each one
    headings = re.findall(r"^## (\d)\. ", source, flags=re.MULTILINE)
    assert headings == [str(i) for i in range(1, 9)]
    # in the same place for every chapter: right after its exercises bullet
    for section in re.split(r"^(?=## \d\. )", source, flags=re.MULTILINE)[1:]:
        exercises = section.index("- **Exercises")
        assert section.index("<!-- answers:") > exercises
        assert section.rstrip().endswith("-->")
    page = render_answers(source, record)
    blocks = re.findall(r"^:::\{dropdown\}.*?^:::$", page, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == len(CHAPTERS)
    assert ":open:" not in page  # collapsed by default
    for block, chapter in zip(blocks, CHAPTERS):
        items = re.findall(r"^(\d+)\. ", block, flags=re.MULTILINE)
        assert items == [str(i) for i in range(1, exercise_count(chapter) + 1)]
    assert "<!-- answers:" not in page


def test_chapter_8_keeps_its_answers_off_the_student_page():
    text = (NOTEBOOKS / "08_results.py").read_text()
    assert "*Expected:*" not in text[text.index("# ## Exercises"):]
