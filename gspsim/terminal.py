"""Putting values from files and the command line on the terminal safely, and long tables fast.

A model, a TOML file or a path can carry any text: rich markup (``[/x]``
crashes rich, ``[link=...]`` injects a hyperlink) and control characters (ESC
sequences retitle the terminal or clear the screen, BEL rings, a CR or a
bidirectional override hides text).  Every such value goes through
:func:`printable` (plain text: error lines) or :func:`markup_safe` (anything
rich parses: tables, ``console.print``) on its way out.

rich lays a table out cell by cell (about 2 ms a row); :func:`print_table`
keeps rich's table for the usual sizes and prints plain aligned columns for
long ones (``inspect`` of a 10,000-node graph).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # rich is imported when something is printed: gspsim.errors uses printable() on import
    from rich.console import Console

#: C0 controls but TAB, DEL, C1 controls, and the Unicode format characters that reorder or hide text
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
#: tables longer than this print as plain aligned columns
RICH_TABLE_MAX_ROWS = 500


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` with control and text-direction characters shown as escapes (``\\x1b``, ``\\u202e``)."""
    text = str(value)
    return _UNSAFE.sub(_escaped, text) if _UNSAFE.search(text) else text


def markup_safe(value: object) -> str:
    """:func:`printable`, with rich markup escaped: for every outside value in a rich string or table cell."""
    from rich.markup import escape

    return escape(printable(value))


def print_table(console: "Console", title: str, columns: Sequence[str], rows: Sequence[Sequence[object]],
                left: Sequence[str] = (), no_wrap: Sequence[str] = ()) -> None:
    """A table of plain values (every cell made safe here); columns named in ``left`` are left-aligned, those in
    ``no_wrap`` never wrap (names a reader searches for)."""
    if len(rows) <= RICH_TABLE_MAX_ROWS:
        from rich.table import Table

        t = Table(title=markup_safe(title) if title else None, title_justify="left")
        for col in columns:
            t.add_column(markup_safe(col), justify="left" if col in left else "right", no_wrap=col in no_wrap)
        for row in rows:
            t.add_row(*(markup_safe(cell) for cell in row))
        console.print(t)
        return
    cells = [[printable(c) for c in columns], *([printable(c) for c in row] for row in rows)]
    widths = [max(len(row[k]) for row in cells) for k in range(len(columns))]
    lines = [printable(title)] if title else []
    for i, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if col in left else c.rjust(w)
                               for c, w, col in zip(row, widths, columns)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True, crop=False)
