"""File tools of the workspace: read_file, write_file, edit_files, attach_file.

Written once against ``workspaces.base.Workspace`` so they behave the same on a local folder or
an SSH host. Every refusal is a ``ToolError`` whose message says what to do next; results stay
within the chat's budget. Every file written is reported, with its content before and after, to
``ToolContext.record_change`` (the chat's change log, for review and revert).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import difflib
import logging
import mimetypes
import posixpath
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, Field, field_validator

from ..errors import ApiError, ToolError, WorkspaceError
from ..llm.types import ToolSpec
from ..workspaces.base import PartialWriteError, Workspace
from .base import Tool, ToolContext, ToolResult, list_from_json
from .textedit import EditError, apply_edit, number_lines, unified_diff

_T = TypeVar("_T")

MAX_READ_BYTES = 5 * 1024 * 1024  # whole-file reads (read_file without a range, edit_files)
READ_CHUNK = 1024 * 1024
MAX_SCAN_BYTES = 256 * 1024 * 1024  # how deep a ranged read_file may go into a huge file
MAX_LINE_CHARS = 2000
SNIFF_BYTES = 8192
MAX_DIR_ENTRIES = 200
MAX_DIFF_SOURCE = 1024 * 1024  # larger files get no diff (difflib is slow on them)
INLINE_TEXT_WORK = 64 * 1024
"""Diffs and edits of texts up to this size run on the event loop (a few hundred
microseconds at most): a thread hand-off would cost more than the work."""
DIFF_LIMIT = 32 * 1024
MAX_ATTACH_BYTES = 10 * 1024 * 1024

log = logging.getLogger(__name__)


# ----- shared helpers -----


def _human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes or invalid UTF-8 (a sequence cut at the end of the sample is fine)."""
    if b"\x00" in sample:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return True
    return False


def _label(ws: Workspace, path: str) -> str:
    """``path`` relative to the workspace root when inside it (for diff headers)."""
    root = ws.root.rstrip("/")
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


async def _record(
    ctx: ToolContext, path: str, before: bytes | int | None, after: bytes | None
) -> str:
    """Log a write for change review. The write itself succeeded, so a failure to log it is
    reported as a note rather than as the tool's failure; the note is returned ("" if fine)."""
    try:
        await ctx.record_change(path, before, after)
    except Exception:
        log.exception("recording the change of %s in chat %s failed", path, ctx.chat_id)
        return f"\n(Note: the change of {path} could not be recorded for review.)"
    return ""


def _encode(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolError(
            f"{what} contains a character that cannot be written as UTF-8 "
            f"(position {exc.start}); remove it and try again."
        ) from None


async def _missing_message(ws: Workspace, path: str) -> str:
    """'does not exist', with similar names from the same directory when there are some."""
    parent, name = posixpath.split(path)
    message = f"{path} does not exist."
    parent_stat = await ws.stat(parent)
    if parent_stat is None or not parent_stat.is_dir:
        message += f" Its directory {parent} does not exist either."
    else:
        with contextlib.suppress(WorkspaceError):
            names = [e.name for e in await ws.list_dir(parent)]
            similar = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
            if similar:
                message += f" Similar names in {parent}: {', '.join(similar)}."
    return (
        message + f" Relative paths start at the workspace root {ws.root}; to search, run "
        "e.g. `find . -name 'pattern'` with execute."
    )


async def _existing_file(
    ws: Workspace, path: str, *, if_missing: str = "", if_directory: str = ""
) -> int:
    """Size of the regular file at ``path``, or a ToolError saying why it is not one."""
    st = await ws.stat(path)
    if st is None:
        raise ToolError(await _missing_message(ws, path) + if_missing)
    if st.is_dir:
        raise ToolError(f"{path} is a directory, not a file.{if_directory}")
    if not st.is_file:
        raise ToolError(f"{path} is not a regular file (a device, socket or pipe).")
    return st.size


# ----- read_file -----


class ReadFileArgs(BaseModel):
    path: str = Field(description="Path of the file (absolute, or relative to the workspace).")
    offset: int = Field(1, ge=1, description="Line number to start at (1-based).")
    limit: int = Field(2000, ge=1, description="Maximum number of lines to return.")


def _decode_line(data: bytes) -> str:
    line = data.decode("utf-8", errors="replace")
    if line.endswith("\r"):
        line = line[:-1]
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS] + f" ... [line truncated at {MAX_LINE_CHARS} characters]"
    return line


async def _read_lines(
    ws: Workspace,
    path: str,
    first: int,
    count: int,
    *,
    to_end: bool,
    first_chunk: bytes | None = None,
) -> tuple[list[str], int | None]:
    """Lines ``first``..``first+count-1`` of a file, read in chunks, and its line count.

    With ``to_end`` the whole file is read so the line count is known; otherwise reading
    stops after the wanted lines and the count is None unless the end was reached.
    ``first_chunk`` is the file's first ``READ_CHUNK`` bytes when the caller has them already.
    """
    keep = 4 * MAX_LINE_CHARS + 4  # bytes of a line worth keeping: enough for the cut
    lines: list[str] = []
    line_no = 1  # number of the line the carry belongs to
    carry = b""
    pos = 0
    while True:
        if pos > MAX_SCAN_BYTES:
            raise ToolError(
                f"Line {first} is too deep in {path} to reach by reading (over "
                f"{_human_size(MAX_SCAN_BYTES)} scanned). Print it with execute instead, "
                f"e.g. `sed -n '{first},{first + 99}p' {path}`."
            )
        if pos == 0 and first_chunk is not None:
            chunk = first_chunk
        else:
            chunk = await ws.read_bytes(path, READ_CHUNK, pos)
        pos += len(chunk)
        segments = chunk.split(b"\n")
        complete = len(segments) - 1
        lo, hi = max(0, first - line_no), min(complete, first + count - line_no)
        for k in range(lo, hi):
            lines.append(_decode_line(carry + segments[0] if k == 0 else segments[k]))
        if complete:
            carry = b""
        carry = (carry + segments[-1])[:keep]
        line_no += complete
        if len(chunk) < READ_CHUNK:  # end of file
            if carry and first <= line_no < first + count:
                lines.append(_decode_line(carry))
            return lines, line_no if carry else line_no - 1
        if not to_end and line_no >= first + count:
            return lines, None


class ReadFile(Tool):
    name = "read_file"
    description = (
        "Read a text file of the workspace. Returns numbered lines ('<number><TAB><line>'), "
        "at most `limit` lines starting at line `offset` (1-based), and says how many lines "
        "the file has so you can page through it with `offset`. Lines longer than 2000 "
        "characters are cut. Reading a directory lists its entries. A Jupyter notebook "
        "(.ipynb) reads as its cells (ids, types, sources, outputs summarised; offset and "
        "limit then count cells). Use this rather than `cat` in execute."
    )
    Args = ReadFileArgs

    async def run(self, ctx: ToolContext, args: ReadFileArgs) -> ToolResult:
        ws = await ctx.workspace()
        path = ws.resolve(args.path)
        st = await ws.stat(path)
        if st is None:
            raise ToolError(await _missing_message(ws, path))
        if st.is_dir:
            return ToolResult(content=await _directory_listing(ws, path))
        if not st.is_file:
            raise ToolError(f"{path} is not a regular file (a device, socket or pipe).")
        if path.endswith(".ipynb"):  # a notebook reads as its cells, not as raw JSON
            from .notebook_tools import read_notebook  # it imports this module

            explicit = bool({"offset", "limit"} & args.model_fields_set)
            listing = await read_notebook(ctx, ws, path, st.size, args.offset, args.limit, explicit)
            if listing is not None:
                return ToolResult(content=listing)
        size = st.size
        # A small file is read once, sniff included, asking for exactly its size: on a remote
        # workspace each read is round trips, and one that ends early needs another to make
        # sure it hit the end. (Size 0 may be a /proc file that does not know its size.) A
        # big file is sniffed first so that a binary one is refused cheaply.
        whole = size < READ_CHUNK
        head = await ws.read_bytes(path, (size or READ_CHUNK) if whole else SNIFF_BYTES)
        if _looks_binary(head[:SNIFF_BYTES]):
            raise ToolError(
                f"{path} is a binary file ({_human_size(size)}); read_file shows text only. "
                "Inspect it with execute (e.g. `file`, `xxd | head`) or hand it to the user "
                "with attach_file."
            )
        ranged = bool({"offset", "limit"} & args.model_fields_set)
        if size > MAX_READ_BYTES and not ranged:
            raise ToolError(
                f"{path} is {_human_size(size)}, too large to read whole (the limit is "
                f"{_human_size(MAX_READ_BYTES)}). Read a part with offset and limit (e.g. "
                "offset=1, limit=200), or search it with execute, e.g. "
                f"`grep -n 'pattern' {path} | head -50`."
            )
        lines, total = await _read_lines(
            ws,
            path,
            args.offset,
            args.limit,
            to_end=size <= MAX_READ_BYTES,
            first_chunk=head if whole and len(head) < READ_CHUNK else None,  # else it grew
        )
        if total == 0:
            return ToolResult(content=f"{path} is empty (0 lines).")
        if total is not None and args.offset > total:
            raise ToolError(
                f"offset {args.offset} is beyond the end of {path}, which has {total} lines. "
                f"Use an offset between 1 and {total}."
            )
        return ToolResult(content=_format_page(path, size, lines, args.offset, total, ctx))


def _format_page(
    path: str, size: int, lines: list[str], first: int, total: int | None, ctx: ToolContext
) -> str:
    # Stop before the generic middle-truncation would cut the page: a clean page end with
    # "continue at offset" beats a hole in the middle of the code.
    budget = ctx.result_budget - 600
    used = 0
    kept = 0
    for line in lines:
        used += len(line.encode("utf-8", errors="replace")) + 8
        if used > budget and kept:
            break
        kept += 1
    last = first + kept - 1
    of_total = f"{total} lines" if total is not None else "line count unknown"
    header = f"{path} ({of_total}, {_human_size(size)}); lines {first}-{last}:"
    body = number_lines(lines[:kept], first)
    if kept < len(lines):
        footer = (
            f"[Stopped at line {last} to stay within the result size limit; continue with "
            f"offset={last + 1}.]"
        )
    elif total is None:
        footer = f"[More lines follow; continue with offset={last + 1}.]"
    elif last < total:
        footer = f"[{total - last} more lines; continue with offset={last + 1}.]"
    else:
        footer = "[End of file.]"
    return f"{header}\n{body}\n{footer}"


async def _directory_listing(ws: Workspace, path: str) -> str:
    entries = await ws.list_dir(path)
    rows = []
    for e in entries[:MAX_DIR_ENTRIES]:
        if e.is_dir:
            rows.append(f"{e.name}/")
        else:
            size = f"  ({_human_size(e.size)})" if e.size is not None else ""
            rows.append(f"{e.name}{' -> (symlink)' if e.is_symlink else ''}{size}")
    count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    text = f"{path} is a directory, not a file. It has {count}:\n"
    text += "\n".join(rows) if rows else "(empty)"
    if len(entries) > MAX_DIR_ENTRIES:
        text += (
            f"\n[... {len(entries) - MAX_DIR_ENTRIES} more entries not shown; list or search "
            "them with execute, e.g. `ls` or `find . -name 'pattern'`.]"
        )
    return text + "\nCall read_file with the path of one of these files to read it."


# ----- write_file -----


class WriteFileArgs(BaseModel):
    path: str = Field(description="Path of the file (absolute, or relative to the workspace).")
    content: str = Field(description="The complete new content of the file.")


class WriteFile(Tool):
    name = "write_file"
    description = (
        "Create a file or replace its whole content, atomically. Missing parent directories "
        "are created and an existing file keeps its permissions. To change part of an "
        "existing file, prefer edit_files."
    )
    Args = WriteFileArgs

    async def run(self, ctx: ToolContext, args: WriteFileArgs) -> ToolResult:
        ws = await ctx.workspace()
        path = ws.resolve(args.path)
        st = await ws.stat(path)
        if st is not None and st.is_dir:
            raise ToolError(f"{path} is a directory; give the path of a file to write.")
        old: str | None = None
        before: bytes | int | None = None if st is None else st.size
        if st is not None and st.size <= MAX_DIFF_SOURCE:
            # For the diff and the change log: its size as of the stat is enough (see ReadFile
            # on why exact). A larger file is logged by its size only.
            with contextlib.suppress(WorkspaceError):
                before = await ws.read_bytes(path, st.size or MAX_DIFF_SOURCE + 1)
            with contextlib.suppress(UnicodeDecodeError):
                old = before.decode("utf-8") if isinstance(before, bytes) else None
        data = _encode(args.content, "content")
        await ws.write_files_atomic({path: data})
        unrecorded = await _record(ctx, path, before, data)
        if st is None:
            text = f"Created {path} ({len(data)} bytes)."
            diff = ""
            if len(data) <= MAX_DIFF_SOURCE:
                diff = unified_diff(
                    "", args.content, _label(ws, path), created=True, limit=DIFF_LIMIT
                )
        else:
            text = f"Overwrote {path} ({len(data)} bytes; it had {st.size} bytes)."
            diff = ""
            if old is not None and len(data) <= MAX_DIFF_SOURCE:
                diff = await _text_work(
                    len(old) + len(args.content),
                    unified_diff,
                    old,
                    args.content,
                    _label(ws, path),
                    limit=DIFF_LIMIT,
                )
                if not diff:
                    text += " The content did not change."
        return ToolResult(content=text + unrecorded, display={"path": path, "diff": diff})


async def _text_work(size: int, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``work(*args, **kwargs)``, in a thread when its texts are large (``INLINE_TEXT_WORK``)."""
    if size <= INLINE_TEXT_WORK:
        return work(*args, **kwargs)
    return await asyncio.to_thread(work, *args, **kwargs)


# ----- edit_files -----


class FileEdit(BaseModel):
    path: str = Field(description="Path of the file to edit.")
    old_text: str = Field(
        description="Exact text to replace, copied from the file (without line numbers); "
        "include enough surrounding lines to match exactly one place."
    )
    new_text: str = Field(description="Text to put in its place.")
    replace_all: bool = Field(False, description="Replace every occurrence of old_text.")


def _edits_from_json(value: Any) -> Any:
    return list_from_json(value, "{path, old_text, new_text, replace_all}")


class EditFilesArgs(BaseModel):
    edits: list[FileEdit] = Field(
        min_length=1,
        description="Edits to apply. Edits of one file are applied in order; if any edit "
        "fails, no file is changed.",
    )

    _parse_edits = field_validator("edits", mode="before")(_edits_from_json)


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve pydantic's ``$defs`` in place: several providers reject ``$ref`` in tools."""
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)


class EditFiles(Tool):
    name = "edit_files"
    description = (
        "Replace text in one or more existing files, all or nothing. Each edit replaces "
        "`old_text` (which must match exactly one place, or set `replace_all`) with "
        "`new_text`; edits of one file apply in order. Differences in leading/trailing "
        "whitespace of whole lines are tolerated. Every edit is checked before anything is "
        "written: if one fails, no file changes. Returns a unified diff per file."
    )
    Args = EditFilesArgs

    @classmethod
    def _build_spec(cls) -> ToolSpec:
        spec = super()._build_spec()
        return spec.model_copy(update={"parameters": _inline_refs(dict(spec.parameters))})

    async def run(self, ctx: ToolContext, args: EditFilesArgs) -> ToolResult:
        ws = await ctx.workspace()
        by_path: dict[str, list[tuple[int, FileEdit]]] = {}
        for number, edit in enumerate(args.edits, 1):
            by_path.setdefault(ws.resolve(edit.path), []).append((number, edit))
        total = len(args.edits)
        failures: list[str] = []
        changed: dict[str, tuple[str, str, int]] = {}  # path -> (old, new, edit count)
        for path, edits in by_path.items():
            try:
                original = await _read_text_for_edit(ws, path)
            except ToolError as exc:
                failures.append(f"{path}: {exc}")
                continue
            # A long file's in a thread: the closest-match search of a failed edit can take a
            # while, and the server's event loop must keep serving meanwhile.
            text, failure = await _text_work(
                len(original), _apply_file_edits, path, original, edits, total
            )
            if failure is not None:
                failures.append(failure)
            else:
                changed[path] = (original, text, len(edits))
        if failures:
            raise ToolError("\n\n".join(failures) + "\n\nNo edits were applied.")
        files = {
            path: _encode(new, f"new_text for {path}") for path, (_, new, _) in changed.items()
        }
        try:
            await ws.write_files_atomic(files)
        except PartialWriteError:
            await _record_partial(ctx, ws, changed, files)
            raise
        except WorkspaceError as exc:
            raise ToolError(f"{exc} No edits were applied.") from None
        unrecorded = ""
        for path, (old, _, _) in changed.items():
            unrecorded = await _record(ctx, path, old.encode("utf-8"), files[path]) or unrecorded
        parts, shown = [], []
        for path, (old, new, count) in changed.items():
            diff = await _text_work(
                len(old) + len(new), unified_diff, old, new, _label(ws, path), limit=DIFF_LIMIT
            )
            parts.append(f"{path}: {count} edit{'s' if count > 1 else ''} applied.\n{diff}")
            shown.append({"path": path, "diff": diff})
        content = "\n".join(parts).rstrip("\n") + unrecorded
        return ToolResult(content=content, display={"files": shown})


async def _record_partial(
    ctx: ToolContext,
    ws: Workspace,
    changed: dict[str, tuple[str, str, int]],
    files: dict[str, bytes],
) -> None:
    """After a write that stopped half-way, log the files that do hold their new content."""
    for path, (old, _, _) in changed.items():
        with contextlib.suppress(WorkspaceError):
            if await ws.read_bytes(path, len(files[path]) + 1) == files[path]:
                await _record(ctx, path, old.encode("utf-8"), files[path])


def _apply_file_edits(
    path: str, text: str, edits: list[tuple[int, FileEdit]], total: int
) -> tuple[str, str | None]:
    """Apply one file's edits in order; (new text, None) or (_, why the first failure failed)."""
    for position, (number, edit) in enumerate(edits):
        try:
            text, _ = apply_edit(text, edit.old_text, edit.new_text, edit.replace_all)
        except EditError as exc:
            after = " (line numbers are after this file's earlier edits)" if position else ""
            return text, f"Edit {number} of {total} ({path}){after}: {exc}"
    return text, None


async def _read_text_for_edit(ws: Workspace, path: str) -> str:
    size = await _existing_file(ws, path, if_missing=" To create a new file, use write_file.")
    if size > MAX_READ_BYTES:
        raise ToolError(
            f"The file is {_human_size(size)}, too large to edit here (limit "
            f"{_human_size(MAX_READ_BYTES)}); change it with a script run by execute."
        )
    raw = await ws.read_bytes(path, MAX_READ_BYTES + 1)
    if b"\x00" in raw[:SNIFF_BYTES]:
        raise ToolError("It is a binary file; edit_files changes text files only.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(
            f"It is not valid UTF-8 text (bad byte at offset {exc.start}); edit it with a "
            "script run by execute."
        ) from None


# ----- attach_file -----

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"\x1f\x8b", "application/gzip"),
    (b"PK\x03\x04", "application/zip"),
)


def sniff_media_type(name: str, data: bytes) -> str:
    """Media type from the content's signature, else the file name, else text-or-binary."""
    guessed, _ = mimetypes.guess_type(name)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            # docx, xlsx, jar... are zip files: their name says more than the signature.
            if media_type == "application/zip" and guessed:
                return guessed
            return media_type
    if guessed:
        return guessed
    return "application/octet-stream" if _looks_binary(data[:SNIFF_BYTES]) else "text/plain"


class AttachFileArgs(BaseModel):
    path: str = Field(description="Path of the workspace file to hand to the user.")
    name: str | None = Field(None, description="File name shown to the user (default: the file's).")


class AttachFile(Tool):
    name = "attach_file"
    description = (
        "Attach a workspace file to the chat so the user can download it (a report, plot, "
        "log, patch, archive...). At most 10 MB; pack a directory into an archive first."
    )
    Args = AttachFileArgs

    async def run(self, ctx: ToolContext, args: AttachFileArgs) -> ToolResult:
        ws = await ctx.workspace()
        path = ws.resolve(args.path)
        size = await _existing_file(
            ws,
            path,
            if_directory=" Pack it first, e.g. with execute "
            f"`tar czf /tmp/archive.tar.gz -C {path} .`, then attach the archive.",
        )
        too_large = ToolError(
            f"{path} is {_human_size(size)}; attachments are limited to "
            f"{_human_size(MAX_ATTACH_BYTES)}. Compress or split it first."
        )
        if size > MAX_ATTACH_BYTES:
            raise too_large
        data = await ws.read_bytes(path, MAX_ATTACH_BYTES + 1)
        if len(data) > MAX_ATTACH_BYTES:  # it grew since the stat
            raise too_large
        name = posixpath.basename((args.name or "").strip().replace("\\", "/"))
        name = "".join(c for c in name if c.isprintable()) or posixpath.basename(path)
        media_type = sniff_media_type(name, data)
        try:
            attachment_id = await ctx.save_attachment(name, media_type, data)
        except ApiError as exc:
            raise ToolError(f"Could not attach {name}: {exc.message}") from None
        return ToolResult(
            content=f"Attached {name} ({media_type}, {_human_size(len(data))}) as attachment "
            f"{attachment_id}; the user can download it from the chat.",
            display={
                "attachment_id": attachment_id,
                "name": name,
                "media_type": media_type,
                "size": len(data),
            },
        )
