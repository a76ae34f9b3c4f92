"""Notebook-aware tools: reading a notebook as cells, editing cells, running a notebook.

- ``read_file`` on an ``.ipynb`` shows a cell listing (``notebook_listing``): index, id, type,
  source and a summary of each cell's outputs, instead of the raw JSON.
- ``edit_notebook`` inserts, replaces, deletes and moves cells through ``nbformat`` and
  validates the result before writing it: all edits apply or none, and a request that fails
  leaves the file byte for byte as it was.
- ``run_notebook`` executes a notebook in the workspace, wherever it lives: a small ``nbclient``
  runner is started with ``Workspace.start_process`` (so it works the same on an SSH host),
  writes the executed copy to a temporary file, and the tool reports each cell's error from
  that copy (and saves the outputs into the notebook when asked).

Cells are numbered from 0, as in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import posixpath
import shlex
import time
import uuid
from typing import Any, Literal

import nbformat
from pydantic import BaseModel, Field, field_validator

from ..errors import ToolError, WorkspaceError
from ..llm.types import ToolSpec
from ..notebook_text import ANSI as _ANSI
from ..notebook_text import cell_source as _source
from ..notebook_text import notebook_lines
from ..workspaces.base import Workspace
from .base import Tool, ToolContext, ToolResult, list_from_json
from .file_tools import (
    DIFF_LIMIT,
    _existing_file,
    _human_size,
    _inline_refs,
    _label,
    _missing_message,
    _record,
)
from .textedit import unified_diff

MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024
MAX_OUTPUT_CHARS = 1500  # of one output, in the listing
MAX_OUTPUT_LINES = 25
MAX_TRACEBACK_LINES = 12
MAX_RUN_TIMEOUT_S = 3600
KERNEL_START_GRACE_S = 90  # on top of timeout_seconds: kernel start-up and writing the copy
STOP_GRACE_S = 3.0


CellType = Literal["code", "markdown", "raw"]


# ----- reading -----


def parse_notebook(data: bytes) -> Any:
    """The notebook (nbformat v4 node) in ``data``; ``ValueError`` saying why it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"it is not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"it is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise ValueError("it is JSON but not a Jupyter notebook (no cells)")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as exc:
        raise ValueError(f"nbformat cannot read it ({exc})") from None


def _clip(text: str, max_chars: int = MAX_OUTPUT_CHARS, max_lines: int = MAX_OUTPUT_LINES) -> str:
    text = _ANSI.sub("", text).rstrip("\n")
    lines = text.split("\n")
    cut = ""
    if len(lines) > max_lines:
        head = max_lines * 2 // 3
        tail = max_lines - head
        cut = f"[... {len(lines) - head - tail} lines omitted ...]"
        lines = [*lines[:head], cut, *lines[-tail:]]
        text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[: max_chars * 2 // 3] + " [... output cut ...] " + text[-max_chars // 3 :]
    return text


def _mime_sizes(data: dict[str, Any], skip: str | None = None) -> str:
    parts = []
    for mime, value in data.items():
        if mime == skip:
            continue
        size = len(value if isinstance(value, str) else json.dumps(value))
        if isinstance(value, list):
            size = len("".join(map(str, value)))
        parts.append(f"{mime} ({_human_size(size)})")
    return ", ".join(parts)


def error_text(output: Any) -> str:
    """``ename: evalue`` and the end of the traceback, without terminal colours."""
    head = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".rstrip(": ")
    lines: list[str] = []
    for entry in output.get("traceback") or []:
        lines.extend(_ANSI.sub("", str(entry)).rstrip("\n").split("\n"))
    if len(lines) > MAX_TRACEBACK_LINES:
        lines = [f"[... {len(lines) - MAX_TRACEBACK_LINES} traceback lines omitted ...]"] + lines[
            -MAX_TRACEBACK_LINES:
        ]
    return head + ("\n" + "\n".join(lines) if lines else "")


def summarize_output(output: Any) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        return f"{output.get('name', 'stdout')}:\n{_clip(text)}"
    if kind in ("execute_result", "display_data"):
        data = output.get("data") or {}
        label = "result" if kind == "execute_result" else "display"
        plain = data.get("text/plain")
        others = _mime_sizes(data, skip="text/plain" if plain is not None else None)
        if plain is not None:
            plain_text = "".join(plain) if isinstance(plain, list) else str(plain)
            also = f"\n(also {others})" if others else ""
            return f"{label}:\n{_clip(plain_text)}{also}"
        return f"{label}: {others or '(empty)'}"
    if kind == "error":
        return "error: " + error_text(output)
    return f"{kind} output"


def cell_header(index: int, cell: Any) -> str:
    parts = [f"[{index}] {cell.get('cell_type', '?')}"]
    parts.append(f"id={cell['id']}" if cell.get("id") else "id=(none)")
    if cell.get("cell_type") == "code":
        count = cell.get("execution_count")
        parts.append(f"execution_count={count}" if count is not None else "not run")
    return "### " + " · ".join(parts)


def render_cell(index: int, cell: Any) -> str:
    lines = [cell_header(index, cell), _source(cell) or "(empty)"]
    outputs = cell.get("outputs") or []
    if outputs:
        lines.append(f"--- outputs of [{index}] ({len(outputs)}):")
        lines.extend(summarize_output(o) for o in outputs)
    attachments = cell.get("attachments")
    if attachments:
        lines.append(f"(attachments: {', '.join(sorted(attachments))})")
    return "\n".join(lines)


def _kernel_label(nb: Any) -> str:
    spec = (nb.get("metadata") or {}).get("kernelspec") or {}
    name, display = spec.get("name"), spec.get("display_name")
    if not name and not display:
        return "no kernel set"
    return f"kernel {display or name}" + (f" ({name})" if name and display else "")


def notebook_listing(
    path: str, size: int, nb: Any, first: int, limit: int, budget: int, *, explicit: bool
) -> str:
    """Cells ``first``.. (1-based, ``limit`` of them) of ``nb`` as readable text."""
    cells = list(nb.cells)
    total = len(cells)
    head = (
        f"{path} is a Jupyter notebook ({_human_size(size)}, nbformat "
        f"{nb.nbformat}.{nb.nbformat_minor}, {_kernel_label(nb)}) with {total} "
        f"cell{'' if total == 1 else 's'}. Cells are numbered from 0; change them with "
        "edit_notebook (by cell_id or index) and run the notebook with run_notebook."
    )
    if not total:
        return head + "\n[The notebook has no cells.]"
    if explicit and first > total:
        raise ToolError(
            f"offset {first} is beyond the last cell of {path}: it has {total} cells (for "
            "notebooks offset and limit count cells, offset=1 being cell [0])."
        )
    start = first - 1
    stop = min(total, start + limit)
    room = budget - len(head) - 400
    parts: list[str] = []
    shown = start
    for i in range(start, stop):
        text = render_cell(i, cells[i])
        if len(text.encode("utf-8", "replace")) > room and parts:
            break
        if len(text) > room:  # a single huge cell: keep its start
            text = text[: max(room, 1000)] + "\n[... cell cut to fit the result size ...]"
        parts.append(text)
        room -= len(text.encode("utf-8", "replace")) + 2
        shown = i + 1
    if shown < total:
        footer = (
            f"[Cells [{start}]-[{shown - 1}] of {total} shown; continue with offset={shown + 1} "
            "(for notebooks offset and limit count cells).]"
        )
    else:
        footer = "[End of notebook.]"
    if start:
        head += f" Showing from cell [{start}]."
    return head + "\n\n" + "\n\n".join(parts) + "\n\n" + footer


async def read_notebook(
    ctx: ToolContext, ws: Workspace, path: str, size: int, offset: int, limit: int, explicit: bool
) -> str | None:
    """``read_file``'s view of a notebook, or None to show the file as text (not a notebook,
    or too large to parse)."""
    if size > MAX_NOTEBOOK_BYTES:
        return None
    data = await ws.read_bytes(path, MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        return None
    try:
        nb = await asyncio.to_thread(parse_notebook, data)
    except ValueError:
        return None
    return notebook_listing(
        path, len(data), nb, offset, limit, ctx.result_budget, explicit=explicit
    )


# ----- editing -----


def _join_source(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return value


class NotebookEdit(BaseModel):
    op: Literal["insert", "replace", "delete", "move"] = Field(
        description="insert a new cell, replace a cell's source and/or type, delete a cell, "
        "or move a cell to to_index."
    )
    cell_id: str | None = Field(
        None,
        description="The cell to act on, by id (see read_file's listing). For insert: the "
        "new cell goes right after this cell.",
    )
    index: int | None = Field(
        None,
        ge=0,
        description="The cell to act on, by position (0 = first), instead of cell_id. For "
        "insert: the position of the new cell (the cell count appends). Positions count the "
        "cells as they are after the previous edits of this call.",
    )
    cell_type: CellType | None = Field(
        None, description="insert: type of the new cell (default code); replace: new type."
    )
    source: str | None = Field(None, description="The full source of the new or replaced cell.")
    to_index: int | None = Field(
        None, ge=0, description="move: the cell's position once moved (0 = first)."
    )

    _source_lines = field_validator("source", mode="before")(_join_source)


def _edits_from_json(value: Any) -> Any:
    return list_from_json(value, "{op, cell_id or index, cell_type, source, to_index}")


class EditNotebookArgs(BaseModel):
    path: str = Field(description="Path of the .ipynb notebook (a missing one is created).")
    edits: list[NotebookEdit] = Field(
        min_length=1,
        description="Cell edits, applied in order; if any fails, the notebook is not changed.",
    )

    _parse_edits = field_validator("edits", mode="before")(_edits_from_json)


class NotebookEditError(Exception):
    pass


def _find_cell(cells: list[Any], edit: NotebookEdit) -> int:
    if edit.cell_id is not None and edit.index is not None:
        raise NotebookEditError("give cell_id or index, not both.")
    if edit.cell_id is not None:
        for i, cell in enumerate(cells):
            if cell.get("id") == edit.cell_id:
                return i
        ids = [str(c.get("id")) for c in cells if c.get("id")]
        known = ", ".join(ids[:30]) + (" ..." if len(ids) > 30 else "")
        raise NotebookEditError(
            f"there is no cell with id {edit.cell_id!r}. "
            + (f"The cell ids are: {known}." if ids else "The cells have no ids; use index.")
        )
    if edit.index is None:
        raise NotebookEditError(f"{edit.op} needs cell_id or index.")
    if edit.index >= len(cells):
        raise NotebookEditError(
            f"index {edit.index} is out of range: the notebook has {len(cells)} cells "
            f"(indices 0-{len(cells) - 1})."
            if cells
            else f"index {edit.index} is out of range: the notebook has no cells."
        )
    return edit.index


def _new_cell(cell_type: str, source: str) -> Any:
    if cell_type == "markdown":
        return nbformat.v4.new_markdown_cell(source)
    if cell_type == "raw":
        return nbformat.v4.new_raw_cell(source)
    return nbformat.v4.new_code_cell(source)


def _retype(cell: Any, cell_type: str) -> Any:
    """``cell`` as another type: same id, source and metadata; outputs only for code."""
    new = _new_cell(cell_type, _source(cell))
    if cell.get("id"):
        new["id"] = cell["id"]
    new["metadata"] = cell.get("metadata", {})
    if cell_type != "code" and cell.get("attachments"):
        new["attachments"] = cell["attachments"]
    return new


def _ensure_ids(nb: Any) -> bool:
    """Give every cell an id (nbformat 4.5), as Jupyter does when it saves; True if it did."""
    from nbformat.corpus.words import generate_corpus_id

    if (nb.nbformat, nb.nbformat_minor) >= (4, 5) and all(c.get("id") for c in nb.cells):
        return False
    nb.nbformat_minor = max(nb.nbformat_minor, 5)
    used = {c.get("id") for c in nb.cells if c.get("id")}
    for cell in nb.cells:
        if not cell.get("id"):
            new = generate_corpus_id()
            while new in used:
                new = generate_corpus_id()
            cell["id"] = new
            used.add(new)
    return True


def apply_notebook_edits(nb: Any, edits: list[NotebookEdit]) -> list[str]:
    """Apply ``edits`` to ``nb`` in order; what each did. ``NotebookEditError`` names the
    first edit that cannot apply (``nb`` is then half-edited: discard it)."""
    done: list[str] = []
    total = len(edits)
    for number, edit in enumerate(edits, 1):
        cells = nb.cells
        try:
            if edit.op == "insert":
                if edit.source is None:
                    raise NotebookEditError('insert needs source (use "" for an empty cell).')
                if edit.to_index is not None:
                    raise NotebookEditError("to_index is for move; insert takes index.")
                if edit.cell_id is not None and edit.index is not None:
                    raise NotebookEditError("give cell_id or index, not both.")
                if edit.cell_id is not None:
                    at = _find_cell(cells, edit) + 1
                elif edit.index is not None:
                    if edit.index > len(cells):
                        raise NotebookEditError(
                            f"index {edit.index} is past the end: the notebook has "
                            f"{len(cells)} cells, so insert at {len(cells)} at most (append)."
                        )
                    at = edit.index
                else:
                    at = len(cells)
                cell = _new_cell(edit.cell_type or "code", edit.source)
                cells.insert(at, cell)
                done.append(f"inserted {cell.cell_type} cell [{at}] id={cell.get('id')}")
            elif edit.op == "replace":
                if edit.source is None and edit.cell_type is None:
                    raise NotebookEditError("replace needs source and/or cell_type.")
                if edit.to_index is not None:
                    raise NotebookEditError("to_index is for move.")
                at = _find_cell(cells, edit)
                cell = cells[at]
                if edit.cell_type is not None and edit.cell_type != cell.get("cell_type"):
                    cell = cells[at] = _retype(cell, edit.cell_type)
                if edit.source is not None and edit.source != _source(cell):
                    cell["source"] = edit.source
                    if cell.get("cell_type") == "code":  # its outputs are stale now
                        cell["outputs"] = []
                        cell["execution_count"] = None
                done.append(f"replaced [{at}] id={cell.get('id')}")
            elif edit.op == "delete":
                if edit.source is not None or edit.cell_type is not None:
                    raise NotebookEditError("delete takes only cell_id or index.")
                at = _find_cell(cells, edit)
                cell = cells.pop(at)
                done.append(f"deleted [{at}] id={cell.get('id')}")
            else:  # move
                if edit.to_index is None:
                    raise NotebookEditError("move needs to_index (the cell's new position).")
                if edit.source is not None or edit.cell_type is not None:
                    raise NotebookEditError("move takes cell_id or index and to_index only.")
                at = _find_cell(cells, edit)
                if edit.to_index >= len(cells):
                    raise NotebookEditError(
                        f"to_index {edit.to_index} is out of range: the notebook has "
                        f"{len(cells)} cells (positions 0-{len(cells) - 1})."
                    )
                cell = cells.pop(at)
                cells.insert(edit.to_index, cell)
                done.append(f"moved id={cell.get('id')} from [{at}] to [{edit.to_index}]")
        except NotebookEditError as exc:
            raise NotebookEditError(f"Edit {number} of {total} ({edit.op}): {exc}") from None
    return done


def validation_problem(nb: Any) -> str | None:
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) if exc.absolute_path else ""
        return f"{exc.message}" + (f" (at {where})" if where else "")
    return None


def as_script(nb: Any) -> str:
    """The cells as ``# %%`` text (sources only), for a readable diff of an edit."""
    # no positions in the headers: an insert would "change" every later one
    return "\n".join(notebook_lines(nb.cells, positions=False, outputs=False)) + "\n"


def _new_notebook() -> Any:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _outline(nb: Any) -> str:
    rows = []
    for i, cell in enumerate(nb.cells):
        first = next((ln for ln in _source(cell).splitlines() if ln.strip()), "")
        if len(first) > 80:
            first = first[:77] + "..."
        rows.append(f"  [{i}] {cell.get('cell_type'):<8} id={cell.get('id')}  {first}")
    return "\n".join(rows) if rows else "  (no cells)"


class EditNotebook(Tool):
    name = "edit_notebook"
    description = (
        "Change the cells of a Jupyter notebook (.ipynb) safely, instead of editing its JSON: "
        "insert, replace (source and/or cell_type), delete or move cells, addressed by "
        "cell_id (shown by read_file) or by index (0 = first cell). Edits apply in order and "
        "all or nothing; the result is validated with nbformat before it is written, so the "
        "notebook is never corrupted. Replacing a code cell's source clears its stale outputs. "
        "A path that does not exist yet is created as a new notebook."
    )
    Args = EditNotebookArgs

    @classmethod
    def _build_spec(cls) -> ToolSpec:
        spec = super()._build_spec()
        return spec.model_copy(update={"parameters": _inline_refs(dict(spec.parameters))})

    async def run(self, ctx: ToolContext, args: EditNotebookArgs) -> ToolResult:
        ws = await ctx.workspace()
        path = ws.resolve(args.path)
        if not path.endswith(".ipynb"):
            raise ToolError(f"{path} is not a notebook (.ipynb); use edit_files for other files.")
        st = await ws.stat(path)
        before: bytes | None = None
        if st is None:
            parent = await ws.stat(posixpath.dirname(path))
            if parent is None or not parent.is_dir:
                raise ToolError(await _missing_message(ws, path))
            nb = _new_notebook()
        else:
            size = await _existing_file(ws, path)
            if size > MAX_NOTEBOOK_BYTES:
                raise ToolError(
                    f"{path} is {_human_size(size)}, too large to edit here (limit "
                    f"{_human_size(MAX_NOTEBOOK_BYTES)}); clear its outputs first, e.g. with "
                    "execute `jupyter nbconvert --clear-output --inplace`."
                )
            before = await ws.read_bytes(path, MAX_NOTEBOOK_BYTES + 1)
            try:
                nb = await asyncio.to_thread(parse_notebook, before)
            except ValueError as exc:
                raise ToolError(
                    f"{path} cannot be edited as a notebook: {exc}. The file was not changed."
                ) from None
        was_invalid = validation_problem(nb) if before is not None else None
        added_ids = _ensure_ids(nb)
        old_script = as_script(nb)
        try:
            done = apply_notebook_edits(nb, args.edits)
        except NotebookEditError as exc:
            raise ToolError(f"{exc}\nNo edits were applied; {path} was not changed.") from None
        problem = validation_problem(nb)
        if problem is not None:
            already = (
                f" The notebook was already invalid before these edits ({was_invalid})."
                if was_invalid
                else ""
            )
            raise ToolError(
                f"The edited notebook would not be valid: {problem}.{already} No edits were "
                f"applied; {path} was not changed."
            )
        after = nbformat.writes(nb).encode("utf-8")
        if not after.endswith(b"\n"):
            after += b"\n"
        if before is not None and after == before:
            return ToolResult(content=f"{path}: the edits changed nothing.")
        try:
            await ws.write_files_atomic({path: after})
        except WorkspaceError as exc:
            raise ToolError(f"{exc} {path} was not changed.") from None
        unrecorded = await _record(ctx, path, before, after)
        diff = await asyncio.to_thread(
            unified_diff,
            "" if before is None else old_script,
            as_script(nb),
            _label(ws, path),
            created=before is None,
            limit=DIFF_LIMIT,
        )
        verb = "Created" if before is None else "Edited"
        notes = (
            "\n(The notebook's cells had no ids; they were given ids, as Jupyter does.)"
            if added_ids and before is not None
            else ""
        )
        content = (
            f"{verb} {path}: " + "; ".join(done) + f".{notes}{unrecorded}\n"
            f"It now has {len(nb.cells)} cells:\n{_outline(nb)}"
        )
        return ToolResult(content=content, display={"path": path, "diff": diff})


# ----- running -----

RUN_MARK = "@@coder-agents-run@@"

# Runs in the workspace with the workspace's Python: no import of this package there.
RUNNER = r"""
import json, os, sys
MARK = "@@coder-agents-run@@"
def report(**kw):
    print(MARK + json.dumps(kw), flush=True)
try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
except ImportError as exc:
    report(fatal="missing", detail=str(exc), python=sys.executable)
    sys.exit(3)
src, out, timeout, stop, kernel = sys.argv[1:6]
nb = nbformat.read(src, as_version=4)
state = {"cell": None}
def started(cell, cell_index, **kw):
    state["cell"] = cell_index
options = dict(
    timeout=float(timeout),
    allow_errors=stop != "1",
    resources={"metadata": {"path": os.path.dirname(os.path.abspath(src))}},
    on_cell_start=started,
)
if kernel:
    options["kernel_name"] = kernel
fatal = {}
try:
    NotebookClient(nb, **options).execute()
except CellExecutionError:
    pass
except CellTimeoutError as exc:
    fatal = {"fatal": "timeout", "detail": str(exc)[-2000:], "cell": state["cell"]}
except DeadKernelError as exc:
    fatal = {"fatal": "dead_kernel", "detail": str(exc)[-2000:], "cell": state["cell"]}
except Exception as exc:
    detail = f"{type(exc).__name__}: {exc}"[-2000:]
    kernels = []
    try:
        from jupyter_client.kernelspec import KernelSpecManager
        kernels = sorted(KernelSpecManager().find_kernel_specs())
    except Exception:
        pass
    fatal = {"fatal": "error", "detail": detail, "cell": state["cell"], "kernels": kernels}
nbformat.write(nb, out)
report(**fatal)
"""


class RunNotebookArgs(BaseModel):
    path: str = Field(description="Path of the .ipynb notebook to run.")
    timeout_seconds: float = Field(
        600,
        gt=0,
        le=MAX_RUN_TIMEOUT_S,
        description="Time limit for the whole run (and for any single cell).",
    )
    stop_on_error: bool = Field(
        True,
        description="Stop at the first cell that raises, like Run All (false: run every cell "
        "and report every error).",
    )
    save_outputs: bool = Field(
        False,
        description="Write the executed notebook, with its new outputs, back to the file "
        "(default: the file is not changed).",
    )
    kernel_name: str | None = Field(
        None, description="Kernel to run it with (default: the notebook's own kernel)."
    )
    python: str = Field(
        "python3",
        description="Python of the workspace that has nbclient and ipykernel installed.",
    )


def _not_run_ranges(indices: list[int]) -> str:
    if not indices:
        return ""
    ranges, start, prev = [], indices[0], indices[0]
    for i in indices[1:]:
        if i != prev + 1:
            ranges.append((start, prev))
            start = i
        prev = i
    ranges.append((start, prev))
    return ", ".join(f"[{a}]" if a == b else f"[{a}]-[{b}]" for a, b in ranges)


def run_report(
    path: str, nb: Any, fatal: dict[str, Any], seconds: float, stop_on_error: bool
) -> tuple[str, dict[str, Any]]:
    """What running ``nb`` (the executed copy) gave: per-cell errors, what did not run."""
    errors: list[dict[str, Any]] = []
    ran, not_run = 0, []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        if not _source(cell).strip():
            continue
        if cell.get("execution_count") is None and not cell.get("outputs"):
            not_run.append(i)
            continue
        ran += 1
        for output in cell.get("outputs") or []:
            if output.get("output_type") == "error":
                errors.append(
                    {
                        "index": i,
                        "cell_id": cell.get("id"),
                        "ename": output.get("ename"),
                        "evalue": output.get("evalue"),
                        "text": error_text(output),
                    }
                )
    code_cells = sum(1 for c in nb.cells if c.get("cell_type") == "code" and _source(c).strip())
    problems = len(errors) + (1 if fatal.get("fatal") else 0)
    head = (
        f"Ran {path} in {seconds:.1f} s: {ran} of {code_cells} code cells ran, "
        f"{len(errors)} raised an error."
    )
    parts = [head]
    for err in errors:
        parts.append(f"Error in cell [{err['index']}] id={err['cell_id']}:\n{err['text']}")
    kind = fatal.get("fatal")
    if kind == "timeout":
        parts.append(
            f"Cell [{fatal.get('cell')}] did not finish within the time limit and was "
            "interrupted; raise timeout_seconds if it needs longer."
        )
    elif kind == "dead_kernel":
        parts.append(
            f"The kernel died while running cell [{fatal.get('cell')}] (out of memory, or a "
            f"crash): {fatal.get('detail', '')}"
        )
    elif kind == "error":
        kernels = fatal.get("kernels") or []
        hint = f" Kernels installed there: {', '.join(kernels)}." if kernels else ""
        parts.append(f"The run failed: {fatal.get('detail', '')}{hint}")
    if not_run:
        why = (
            "they come after the first error (stop_on_error=false runs them all)"
            if errors and stop_on_error
            else "the run stopped before them"
        )
        parts.append(f"Cells {_not_run_ranges(not_run)} were not run: {why}.")
    if not problems:
        parts.append("No cell raised an error.")
    display = {
        "path": path,
        "cells_run": ran,
        "code_cells": code_cells,
        "errors": [{k: v for k, v in e.items() if k != "text"} for e in errors],
        "not_run": not_run,
        "duration_ms": round(seconds * 1000),
        "fatal": kind,
    }
    return "\n\n".join(parts), display


def _last_report(output: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith(RUN_MARK):
            with contextlib.suppress(ValueError):
                found = json.loads(line[len(RUN_MARK) :])
                return found if isinstance(found, dict) else None
    return None


_background: set[asyncio.Task[None]] = set()


async def _stop_process(ws: Workspace, process_id: str) -> None:
    with contextlib.suppress(WorkspaceError):
        await ws.signal(process_id, "terminate")
    try:
        info = await ws.wait(process_id, STOP_GRACE_S)
        if info.running:
            await ws.signal(process_id, "kill")
    except WorkspaceError:
        pass


class RunNotebook(Tool):
    name = "run_notebook"
    description = (
        "Execute a Jupyter notebook from top to bottom in the workspace (with nbclient, in a "
        "fresh kernel, in the notebook's folder) and report each cell's error with its "
        "traceback, and which cells did not run. The notebook file is left as it is unless "
        "save_outputs is true. Needs nbclient and ipykernel in the workspace's Python."
    )
    Args = RunNotebookArgs

    async def run(self, ctx: ToolContext, args: RunNotebookArgs) -> ToolResult:
        ws = await ctx.workspace()
        path = ws.resolve(args.path)
        if not path.endswith(".ipynb"):
            raise ToolError(f"{path} is not a notebook (.ipynb); run scripts with execute.")
        await _existing_file(ws, path)
        out = f"/tmp/coder-agents-run-{uuid.uuid4().hex}.ipynb"
        command = " ".join(
            [
                shlex.quote(args.python),
                "-c",
                shlex.quote(RUNNER),
                shlex.quote(path),
                shlex.quote(out),
                f"{args.timeout_seconds:g}",
                "1" if args.stop_on_error else "0",
                shlex.quote(args.kernel_name or ""),
            ]
        )
        started = time.monotonic()
        process_id = await ws.start_process(command, workdir=posixpath.dirname(path))
        try:
            try:
                info = await ws.wait(process_id, args.timeout_seconds + KERNEL_START_GRACE_S)
            except asyncio.CancelledError:  # the turn was stopped: so is the run
                task = asyncio.create_task(_stop_process(ws, process_id))
                _background.add(task)
                task.add_done_callback(_background.discard)
                raise
            if info.running:
                await _stop_process(ws, process_id)
                raise ToolError(
                    f"Running {path} took longer than {args.timeout_seconds:g} s (plus "
                    f"{KERNEL_START_GRACE_S} s to start the kernel) and was stopped."
                )
            seconds = time.monotonic() - started
            report = _last_report(info.output)
            if report is None:
                raise ToolError(
                    f"Running {path} failed (exit code {info.exit_code}) before it could "
                    f"report:\n{info.output.strip()[-3000:] or '(no output)'}\nCheck that "
                    f"`{args.python}` is the workspace's Python (set python otherwise)."
                )
            if report.get("fatal") == "missing":
                raise ToolError(
                    f"{report.get('python') or args.python} cannot run notebooks: "
                    f"{report.get('detail')}. Install them with execute (`{args.python} -m "
                    "pip install nbclient ipykernel`), or pass python= the interpreter of an "
                    "environment that has them."
                )
            data = await ws.read_bytes(out, MAX_NOTEBOOK_BYTES + 1)
            executed = await asyncio.to_thread(parse_notebook, data)
            content, display = run_report(path, executed, report, seconds, args.stop_on_error)
            if args.save_outputs:
                content += await self._save(ctx, ws, path, data)
            return ToolResult(content=content, display=display)
        except ValueError as exc:
            raise ToolError(f"The executed copy of {path} could not be read: {exc}.") from None
        finally:
            with contextlib.suppress(WorkspaceError):
                await asyncio.shield(ws.remove(out))

    async def _save(self, ctx: ToolContext, ws: Workspace, path: str, data: bytes) -> str:
        before = await ws.read_bytes(path, MAX_NOTEBOOK_BYTES + 1)
        if before == data:
            return f"\n\nThe outputs in {path} did not change."
        try:
            await ws.write_files_atomic({path: data})
        except WorkspaceError as exc:
            return f"\n\nThe outputs could not be saved: {exc}"
        return f"\n\nSaved the outputs into {path}." + await _record(ctx, path, before, data)


NOTEBOOK_TOOLS: list[Tool] = [EditNotebook(), RunNotebook()]
