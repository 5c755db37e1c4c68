"""The reference list in the citations' own style.

``bibtex_reference_style: author_year`` makes a citation read "[Zhang et al., 2017]", but
pybtex's list styles label entries "[ZIE17]" (alpha) or "[1]" (plain). This Sphinx extension
registers a pybtex formatting style, ``author_year``, that labels each entry the way
sphinxcontrib-bibtex's author-year citations name it: the first author's last name, "and" the
second's when there are two, "et al." after the first when there are more, then the year. The
entries themselves are formatted as pybtex's ``unsrt`` style does, sorted by author, year and
title. Two works that would share a label are reported by sphinxcontrib-bibtex as a duplicate
label, a warning the book build treats as an error, so the list can never be ambiguous.
"""
from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _last_name(person) -> str:
    """A person's last name as plain text, LaTeX accents decoded (``Kr{\\"a}henb{\\"u}hl``)."""
    parts = [*person.rich_prelast_names, *person.rich_last_names]
    return " ".join(part.render_as("text") for part in parts)


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels such as "Zhang et al., 2017", "Hinton and Salakhutdinov, 2006", "Krizhevsky, 2009"."""

    def format_label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_last_name(person) for person in persons]
        if not names:
            who = entry.fields.get("title", entry.key)
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        return f"{who}, {entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries):
        return [self.format_label(entry) for entry in sorted_entries]


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
