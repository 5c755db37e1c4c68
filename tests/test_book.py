"""The book end to end: every chapter executes under papermill with the ``smoke`` preset, the
book builds from those executed copies (warnings as errors), and headless Chromium finds every
chapter page sound: it loads, its images have a non-zero natural size, it shows no traceback, and
its Colab link points at a committed notebook.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from splitbrain.book import chapter_notebooks

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/main/(?P<path>.+\.ipynb)$")


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    subprocess.run(
        [sys.executable, "-m", "splitbrain.book", "build", "--preset", "smoke", "--out", str(out)],
        cwd=ROOT, check=True,
    )
    return out


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Debian's chromium package is missing: `make test` installs it"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def chapter_pages(out: Path) -> list[tuple[Path, Path]]:
    return [(nb, out / "html" / nb.with_suffix(".html")) for nb in chapter_notebooks(ROOT)]


def test_executed_notebooks_have_no_errors(built_book):
    for notebook, _ in chapter_pages(built_book):
        executed = nbformat.read(built_book / "src" / notebook, as_version=4)
        for cell in executed.cells:
            for output in cell.get("outputs", []):
                assert output.output_type != "error", f"{notebook}: {output.get('ename')}"
                if output.output_type == "stream":
                    assert output.name != "stderr", f"{notebook} wrote to stderr: {output.text[:300]}"


def test_every_chapter_page_is_sound_in_chromium(built_book, browser):
    pages = chapter_pages(built_book)
    assert pages, "no chapter notebooks are listed in _toc.yml"
    page = browser.new_page()
    glued = 0
    for notebook, html in pages:
        assert html.exists(), f"{html} was not built"
        response = page.goto(html.as_uri())
        assert response is None or response.ok
        page.wait_for_load_state("load")
        text = page.inner_text("body")
        assert "Traceback (most recent call last)" not in text, f"{notebook}: traceback on the page"
        images = page.eval_on_selector_all(
            "article img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth, e.naturalHeight])"
        )
        for src, complete, width, height in images:
            assert complete and width > 0 and height > 0, f"{notebook}: image {src} did not load"
        # only the chapter's own parameters cell shows, not the one papermill injected
        assert 'PRESET = "auto"' in text and 'PRESET = "smoke"' not in text, f"{notebook}: injected parameters shown"
        weights = page.eval_on_selector_all(".pasted-text", "els => els.map(e => getComputedStyle(e).fontWeight)")
        assert all(weight in ("400", "normal") for weight in weights), f"{notebook}: glued text is bold {weights}"
        glued += len(weights)
        links = page.eval_on_selector_all("a[href*='colab.research.google.com/github']", "els => els.map(e => e.href)")
        assert links, f"{notebook}: no Colab launch link"
        for link in links:
            match = COLAB_LINK.match(link)
            assert match, f"{notebook}: unexpected Colab link {link}"
            assert (ROOT / match["path"]).is_file(), f"{notebook}: Colab link to missing {match['path']}"
            assert match["path"].startswith("notebooks/")
    assert glued > 0, "no glued number on any chapter page: the weight check saw nothing"
    page.close()


def test_search_finds_a_chapter(built_book, browser):
    page = browser.new_page()
    page.goto((built_book / "html" / "search.html").as_uri() + "?q=quantization")
    page.wait_for_selector("#search-results li", timeout=30_000)
    assert page.locator("#search-results li").count() > 0
    page.close()
