"""Matplotlib figures the chapters show, one module per topic; every function returns a Figure."""

BOOK_COLUMN_INCHES = 8.0
"""The widest figure the book shows at its own size: its text column is about 750 px wide and the
chapters draw at 110 dpi, so a wider figure is shrunk and its labels with it."""


def grid_cell_inches(columns: int, margin: float, largest: float) -> float:
    """Side in inches of one image of a grid with ``columns`` images per row and ``margin``
    inches of row labels, at most ``largest``, so that the grid fits :data:`BOOK_COLUMN_INCHES`."""
    return min(largest, (BOOK_COLUMN_INCHES - margin) / max(columns, 1))
