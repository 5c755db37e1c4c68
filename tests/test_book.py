"""The book end to end: every chapter executes under papermill with the ``smoke`` preset, the
book builds from those executed copies (warnings as errors), and headless Chromium finds every
chapter page sound: it loads, its images have a non-zero natural size, it shows no traceback, and
its Colab link points at a committed notebook. Every figure is legible where it stands: its
smallest text, as the figure recorded it (splitbrain.plots.legibility) and scaled to the width the
page shows it at, is at least 9 px at a 1280 px window, and at a phone's width it opens full size.
"""
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import nbformat
import pytest

from splitbrain.book import chapter_notebooks

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Code, output, tables, images and display formulas whose right edge passes the article's, or
# that scroll sideways; code and output blocks may scroll (test_code_keeps_its_lines... checks
# that they show a scroll bar when they do).
CUT_OFF = """() => {
  const right = document.querySelector("article").getBoundingClientRect().right;
  return [...document.querySelectorAll("article pre, article table, article img, article div.math mjx-container")]
    .filter(e => e.getBoundingClientRect().right > right + 1
      || (e.scrollWidth > e.clientWidth + 1 && e.tagName !== "PRE"))
    .map(e => e.tagName + ": " + (e.innerText || e.src || e.textContent).slice(0, 80));
}"""
# Code and output blocks the browser may wrap (and so break inside a name, a number or a log
# line), and blocks that scroll sideways without a scroll bar that takes room on the page.
UNWRAPPED_CODE = """() => {
  const blocks = [...document.querySelectorAll("article div.highlight pre, article div.cell_output pre")];
  const bar = e => e.offsetHeight - e.clientHeight - parseFloat(getComputedStyle(e).borderTopWidth)
    - parseFloat(getComputedStyle(e).borderBottomWidth);
  return {
    blocks: blocks.length,
    wrapping: blocks.filter(e => getComputedStyle(e).whiteSpace !== "pre").map(e => e.innerText.slice(0, 80)),
    scrolling: blocks.filter(e => e.scrollWidth > e.clientWidth + 1).length,
    hidden_bar: blocks.filter(e => e.scrollWidth > e.clientWidth + 1 && bar(e) < 6)
      .map(e => e.innerText.split("\\n").reduce((a, b) => (b.length > a.length ? b : a)).slice(0, 100)),
  };
}"""
# Figures such as "0.4730 ± 0.0059" in table cells that the page breaks across lines.
SPLIT_FIGURES = """() => [...document.querySelectorAll("article td, article th")].flatMap(cell => {
  const broken = [], walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode());) {
    for (const m of node.data.matchAll(/[-+]?[0-9][0-9.,]*%?\\s±\\s[0-9][0-9.,]*%?/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      if (new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1) broken.push(m[0]);
    }
  }
  return broken;
})"""
# Every figure in a cell's output: where its file is, the width the page gives it, its own pixel
# width, its caption when it has one, and the link around it (the full-size image on a phone).
FIGURES = """() => [...document.querySelectorAll("article div.cell_output img")].map(e => ({
  src: e.currentSrc || e.src,
  shown: e.getBoundingClientRect().width,
  natural: e.naturalWidth,
  caption: (e.closest("figure")?.querySelector("figcaption")?.innerText || "").slice(0, 60),
  link: e.closest("a")?.href || null,
}))"""
SMALLEST_LEGIBLE_PX = 9.0
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/main/(?P<path>.+\.ipynb)$")


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [sys.executable, "-m", "splitbrain.book", "build", "--preset", "smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, f"the book did not build:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    (out / "build.log").write_text(result.stdout + result.stderr)
    return out


@pytest.fixture(scope="session")
def chromium():
    """Playwright's Chromium launcher on Debian's chromium; one per session, since Playwright's sync
    API refuses a second while the first runs."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Debian's chromium package is missing: `make test` installs it"
    with playwright_api.sync_playwright() as playwright:
        yield lambda **options: playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, **options)


@pytest.fixture(scope="session")
def browser(chromium):
    browser = chromium()
    yield browser
    browser.close()


def chapter_pages(out: Path) -> list[tuple[Path, Path]]:
    return [(nb, out / "html" / nb.with_suffix(".html")) for nb in chapter_notebooks(ROOT)]


def test_the_build_log_is_one_line_per_chapter_and_one_page_to_open(built_book):
    lines = (built_book / "build.log").read_text().splitlines()
    executed = [line for line in lines if line.startswith("executed notebooks/")]
    opened = [line for line in lines if line.startswith("book built; open ")]
    assert len(executed) == len(chapter_pages(built_book)) and len(opened) == 1, lines
    assert len(lines) == len(executed) + 1, f"the log says more than it should: {lines}"
    assert opened[0].endswith(str(built_book / "html" / "index.html"))


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
        cut_off = page.evaluate(CUT_OFF)
        assert not cut_off, f"{notebook}: cut off at the right of the column: {cut_off[:3]}"
        split = page.evaluate(SPLIT_FIGURES)
        assert not split, f"{notebook}: a mean ± spread broken across lines: {split[:3]}"
        # prose() cells: only their Markdown shows, as ordinary paragraphs with every role rendered
        paragraphs = page.eval_on_selector_all(".tag_remove-input .cell_output p",
                                               "els => els.filter(e => !e.closest('th'))"
                                               ".map(e => [getComputedStyle(e).fontWeight, e.innerText])")
        for weight, paragraph in paragraphs:
            assert weight in ("400", "normal"), f"{notebook}: generated prose is bold: {paragraph[:80]}"
            assert "{cite" not in paragraph and "{glue" not in paragraph, f"{notebook}: raw role in {paragraph[:120]}"
        glued += len(paragraphs)
        links = page.eval_on_selector_all("a[href*='colab.research.google.com/github']", "els => els.map(e => e.href)")
        assert links, f"{notebook}: no Colab launch link"
        for link in links:
            match = COLAB_LINK.match(link)
            assert match, f"{notebook}: unexpected Colab link {link}"
            assert (ROOT / match["path"]).is_file(), f"{notebook}: Colab link to missing {match['path']}"
            assert match["path"].startswith("notebooks/")
    assert glued > 0, "no generated paragraph on any chapter page: the prose checks saw nothing"
    page.close()


def test_code_keeps_its_lines_and_scrolls_under_a_visible_bar(built_book, chromium):
    """A browser that wraps code breaks it wherever it likes (``rgb_r[1,`` / ``2]``, a log line in
    two); a code or output block keeps its lines, and one longer than the column scrolls under a
    scroll bar drawn on the page. Playwright hides scroll bars by default, so this test launches
    Chromium with them, as a reader's browser draws them."""
    blocks = 0
    browser = chromium(ignore_default_args=["--hide-scrollbars"])
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        for notebook, html in chapter_pages(built_book):
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            found = page.evaluate(UNWRAPPED_CODE)
            assert not found["wrapping"], f"{notebook}: code the browser may wrap mid-token: {found['wrapping'][:3]}"
            assert not found["hidden_bar"], f"{notebook}: code scrolls sideways with no bar: {found['hidden_bar'][:3]}"
            blocks += found["blocks"]
    finally:
        browser.close()
    assert blocks > 0, "no code block on any chapter page: the check saw nothing"


def test_formulas_render_from_mathjax_served_by_the_book(built_book, browser):
    """MathJax comes with the build (no CDN), so formulas render for a reader without network."""
    page = browser.new_page()
    external = []
    page.route("http*://**", lambda route: (external.append(route.request.url), route.abort()))
    rendered = 0
    for notebook, html in chapter_pages(built_book):
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        sources = page.eval_on_selector_all("script[src*='mathjax' i]", "els => els.map(e => e.src)")
        assert all(src.startswith("file:") for src in sources), f"{notebook}: MathJax from {sources}"
        if page.locator("article .math").count():
            assert sources, f"{notebook}: formulas but no MathJax"
            page.wait_for_selector("article mjx-container", timeout=30_000)
            raw = page.eval_on_selector_all("article .math", "els => els.filter(e => !e.querySelector('mjx-container')).length")
            assert raw == 0, f"{notebook}: {raw} formulas left as raw LaTeX"
            rendered += 1
    assert rendered >= 3, f"formulas rendered on only {rendered} chapter pages"
    assert not any("mathjax" in url.lower() for url in external), f"MathJax fetched from the network: {external}"
    page.close()


def test_search_finds_a_chapter(built_book, browser):
    page = browser.new_page()
    page.goto((built_book / "html" / "search.html").as_uri() + "?q=quantization")
    page.wait_for_selector("#search-results li", timeout=30_000)
    assert page.locator("#search-results li").count() > 0
    page.close()


def figures_on(page, html: Path, width: int) -> list[dict]:
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    return page.evaluate(FIGURES)


def image_file(src: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlparse(src).path))


def test_every_figure_is_legible_where_it_stands(built_book, browser):
    """Every figure of every chapter at a 1280 px window: its smallest text, from the font size
    the figure drew it at (recorded in the PNG by the chapters' display hook, in pixels of the
    image) scaled by the width the page shows the image at over its own width, is at least 9 px,
    and no two of its texts overlap (recorded by the same hook). At a phone's 390 px every figure
    links to its full-size image."""
    from splitbrain.plots.legibility import read_png_smallest_text, read_png_text_overlaps

    page = browser.new_page()
    small, unmeasured, unlinked, overlapping, measured = [], [], [], [], 0
    for notebook, html in chapter_pages(built_book):
        for number, figure in enumerate(figures_on(page, html, 1280), start=1):
            name = f"{notebook.stem}, figure {number} ({image_file(figure['src']).name[:12]}"
            name += f", {figure['caption']!r})" if figure["caption"] else ")"
            png = image_file(figure["src"]).read_bytes()
            smallest = read_png_smallest_text(png)
            if smallest is None:
                unmeasured.append(name)
                continue
            measured += 1
            overlapping += [f"{name}: {pair}" for pair in read_png_text_overlaps(png) or []]
            on_page = smallest * figure["shown"] / figure["natural"]
            if on_page < SMALLEST_LEGIBLE_PX:
                small.append(f"{name}: {on_page:.1f} px ({smallest:.1f} px in an image {figure['natural']} px wide "
                             f"shown {figure['shown']:.0f} px wide)")
        for number, figure in enumerate(figures_on(page, html, 390), start=1):
            if not figure["link"] or image_file(figure["link"]).name != image_file(figure["src"]).name:
                unlinked.append(f"{notebook.stem}, figure {number}")
    page.close()
    assert measured > 0, "no figure on any chapter page carries its text size: the check saw nothing"
    assert not unmeasured, f"figures that do not record their smallest text: {unmeasured}"
    assert not small, f"figures whose smallest text is under {SMALLEST_LEGIBLE_PX:.0f} px at 1280 px:\n" + "\n".join(small)
    assert not unlinked, f"figures a phone reader cannot open full size: {unlinked}"
    assert not overlapping, "labels drawn over other labels:\n" + "\n".join(overlapping)


WIDER_THAN_THE_WINDOW = """() => {
  const width = document.documentElement.clientWidth, wide = [];
  for (const el of document.querySelectorAll('article *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) continue;
    let scrolls = false;  // inside a box that scrolls or clips it (a code block), it does not widen the page
    for (let up = el.parentElement; up && !scrolls; up = up.parentElement) scrolls = getComputedStyle(up).overflowX !== 'visible';
    if (!scrolls) wide.push(`${el.tagName.toLowerCase()} ${Math.round(box.right)} px: ${el.textContent.trim().slice(0, 60)}`);
  }
  return {scroll: document.documentElement.scrollWidth, width, wide};
}"""


def test_no_page_scrolls_sideways_on_a_phone(built_book, browser):
    """At a phone's 390 px nothing in a page's text is wider than the window (a long name in
    inline code does not wrap, and then the whole page scrolls sideways); code blocks scroll in
    their own box."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    pages = [html for _, html in chapter_pages(built_book)] + sorted((built_book / "html" / "book").glob("*.html"))
    too_wide = {}
    for html in pages:
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        found = page.evaluate(WIDER_THAN_THE_WINDOW)
        if found["wide"] or found["scroll"] > found["width"]:
            too_wide[html.relative_to(built_book / "html").as_posix()] = found["wide"][:3] or found["scroll"]
    page.close()
    assert len(pages) > 8 and not too_wide, too_wide


# A package id or a retired spelling where a reader should see the display name
# (splitbrain.results.ARCH_LABELS, SPACE_LABELS); shipped networks' names (cifar10-...) are names
# a reader types, and code is code.
RAW_NAMES = re.compile(r"\b(?:rescaled_lab|random-(?:lab|rgb)|fcresnet18|fcalexnet|LAB|FCAlexNet|FC AlexNet|ResNet 18)\b|Re-scaled"
                       r"|\b(?:simplenet|fcresnet18|fcalexnet)-[\w-]*seed\d")
SHIPPED_NAME = re.compile(r"\bcifar10-[\w-]+")


def reader_text(page: Path) -> str:
    """A built page's text as a reader sees it, without code: input cells and inline or block code
    are left out; outputs, tables, captions and prose stay."""
    text = page.read_text()
    text = re.sub(r'<div class="cell_input.*?</div>\s*</div>', " ", text, flags=re.S)
    text = re.sub(r"<code.*?</code>", " ", text, flags=re.S)
    text = re.sub(r"<(script|style).*?</\1>", " ", text, flags=re.S)
    return SHIPPED_NAME.sub(" ", re.sub(r"<[^>]+>", " ", text))


def test_every_page_names_each_network_and_colour_space_by_its_display_name(built_book):
    pages = [html for _, html in chapter_pages(built_book)] + sorted((built_book / "html" / "book").glob("*.html"))
    found = {page.relative_to(built_book / "html").as_posix(): sorted(set(RAW_NAMES.findall(reader_text(page))))
             for page in pages}
    assert not {page: names for page, names in found.items() if names}, found
