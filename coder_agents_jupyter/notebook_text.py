"""Notebooks as readable text, cell by cell, for the diffs a person reads.

Each cell is a ``# %%`` header naming its type, position and id, then its source, then (for a
code cell with outputs) one line summing its outputs up. The summary is bounded and never
holds the outputs' data: a base64 image or a long log would drown the cells' changes.

Pure and stdlib-only, so both the change review (``db/changes.py``, below the tools) and
``edit_notebook`` (``tools/notebook_tools.py``) use it: cells are the dicts of a notebook's
JSON as ``json`` parses it, or ``nbformat`` nodes (which are dicts too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
"""Terminal colour codes, as tracebacks and some streams carry them."""

MAX_SUMMARY_CHARS = 200
MAX_DETAIL_CHARS = 80
NO_CELLS = "# (the notebook has no cells)"
OUTPUT_PREFIX = "# -> output: "

Cell = Mapping[str, Any]


def parse_cells(text: str) -> list[Cell] | None:
    """The cells of the notebook JSON ``text``; None when it is not JSON or not an nbformat 4
    notebook (a list of cell objects under ``cells``)."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        return None
    cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return None
    return cells


def _text(value: Any) -> str:
    """A multiline string field, stored as a string or a list of strings."""
    return "".join(map(str, value)) if isinstance(value, list) else str(value)


def cell_source(cell: Cell) -> str:
    return _text(cell.get("source", ""))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(text: str) -> str:
    lines = ANSI.sub("", text).strip().splitlines() or [""]
    return _clip(lines[0] + (" …" if len(lines) > 1 else ""), MAX_DETAIL_CHARS)


def cell_header(cell: Cell, position: int | None = None) -> str:
    """``# %% [code] cell 3 (id 9f2c)``; without ``position``, ``# %% [code] (id 9f2c)``."""
    where = f" cell {position}" if position is not None else ""
    ident = f"id {cell['id']}" if cell.get("id") else "no id"
    return f"# %% [{cell.get('cell_type', '?')}]{where} ({ident})"


def outputs_summary(outputs: Sequence[Any]) -> str:
    """One line for a code cell's outputs, e.g. ``2 lines of stdout, 1 image/png, 1 error:
    ZeroDivisionError: division by zero``: counts and first lines only, never the data."""
    counts: dict[tuple[str, str], int] = {}  # (noun, detail), in order of first appearance

    def add(noun: str, detail: str = "", n: int = 1) -> None:
        counts[(noun, detail)] = counts.get((noun, detail), 0) + n

    for out in outputs:
        kind = out.get("output_type") if isinstance(out, Mapping) else None
        if kind == "stream":
            lines = len(_text(out.get("text", "")).splitlines())
            if lines:
                add("line", f" of {out.get('name', 'stdout')}", lines)
        elif kind == "error":
            error = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
            add("error", ": " + _first_line(error))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data") or {}
            rich = [mime for mime in data if mime != "text/plain"]
            for mime in rich:  # a mime type, not the data: an image is "1 image/png"
                add(mime)
            if not rich:
                label = "result" if kind == "execute_result" else "display"
                add(label, ": " + _first_line(_text(data.get("text/plain", ""))))
        else:
            add(f"{kind} output")
    parts = [
        f"{n} {noun}{'s' if n != 1 and '/' not in noun else ''}{detail}"
        for (noun, detail), n in counts.items()
    ]
    return _clip(", ".join(parts), MAX_SUMMARY_CHARS)


def cell_lines(cell: Cell, position: int | None = None, *, outputs: bool = True) -> list[str]:
    """A cell as lines (without line ends): its header, its source, its outputs' summary."""
    lines = [cell_header(cell, position), *cell_source(cell).splitlines()]
    if outputs and cell.get("cell_type") == "code" and cell.get("outputs"):
        lines.append(OUTPUT_PREFIX + outputs_summary(cell["outputs"]))
    return lines


def notebook_lines(
    cells: Sequence[Cell], *, positions: bool = True, outputs: bool = True
) -> list[str]:
    """All cells as lines, a blank line between two cells. With or without ``positions`` the
    lines are the same in number and differ only in the headers, so a diff can match cells
    without their positions (an inserted cell would "change" every later header) and show
    the lines with them."""
    lines: list[str] = []
    for i, cell in enumerate(cells):
        if lines:
            lines.append("")
        lines += cell_lines(cell, i if positions else None, outputs=outputs)
    return lines or [NO_CELLS]
