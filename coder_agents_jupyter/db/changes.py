"""The change log: every file an agent's tool wrote, with its content before and after.

``ChangeLog.record`` is called by the file tools (through ``ToolContext.record_change``) right
after a write. ``diff`` shows, per workspace and path, the earliest recorded *before* against
the latest recorded *after* of a set of chats (a chat and its sub-agents). ``revert`` puts the
earliest *before* back, but only where the file still holds what the agent last wrote: a file
changed since (by the user, or by a command) is a conflict, and then nothing is written.

Content is kept up to ``MAX_KEPT`` bytes per side; a larger or binary side keeps its size and
sha256 only (it shows as a binary/large note and cannot be restored). A notebook's diff compares
its cells as readable text (``notebook_text``) rather than its JSON. The workspace is reached
only through the callbacks ``revert`` is given: this module sits below the workspaces.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from ..errors import BadRequest, Conflict, NotFound
from ..notebook_text import notebook_lines, parse_cells
from .inline import InlineWriter
from .models import FileChange, utcnow

MAX_KEPT = 512 * 1024
"""Bytes of content kept per side of a change; beyond, only size and sha256."""

Status = Literal["added", "modified", "deleted"]

ReadCurrent = Callable[[str | None, str], Awaitable[str | None]]
"""(workspace_id, path) -> sha256 hex of the file's content now, None if it does not exist.
Anything that is not a sha256 of the content (a directory, say) simply never matches."""

WriteFile = Callable[[str | None, str, bytes | None], Awaitable[None]]
"""(workspace_id, path, content) writes the file; content None removes it."""


class ChangeConflict(Conflict):
    """Files that cannot be reverted (changed since, or their old content was not kept)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.paths = [path for path, _ in problems]
        super().__init__(
            "Nothing was reverted: " + "; ".join(f"{path} {why}" for path, why in problems) + "."
        )


@dataclass(frozen=True)
class Side:
    """One side (before or after) of a change, as kept."""

    exists: bool
    text: str | None = None
    size: int | None = None
    sha256: str | None = None

    @property
    def kept(self) -> bool:
        """Whether the content is known: the file did not exist, or its text was stored."""
        return not self.exists or self.text is not None

    def same_as(self, other: Side) -> bool:
        if not self.exists or not other.exists:
            return self.exists == other.exists
        return self.sha256 is not None and self.sha256 == other.sha256

    def content(self) -> bytes | None:
        """What restoring this side writes: None for "did not exist"."""
        if not self.exists:
            return None
        assert self.text is not None, "only a kept side can be restored"
        return self.text.encode("utf-8")


def side(content: bytes | int | None) -> Side:
    """A side from what a tool saw: bytes, None (no file), or the size of an unread file."""
    if content is None:
        return Side(exists=False)
    if isinstance(content, int):
        return Side(exists=True, size=content)
    digest = hashlib.sha256(content).hexdigest()
    text: str | None = None
    if len(content) <= MAX_KEPT and b"\x00" not in content:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return Side(exists=True, text=text, size=len(content), sha256=digest)


def _before(row: FileChange) -> Side:
    return Side(row.before_exists, row.before, row.before_size, row.before_sha256)


def _after(row: FileChange) -> Side:
    return Side(row.after_exists, row.after, row.after_size, row.after_sha256)


def _human_size(n: int | None) -> str:
    if n is None:
        return "unknown size"
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class FileDiff:
    """The net change of one file over a set of chats."""

    workspace_id: str | None
    path: str
    status: Status
    diff: str
    binary: bool
    """The content of a side was not kept (binary, or larger than ``MAX_KEPT``)."""
    additions: int
    deletions: int
    before_size: int | None
    after_size: int | None

    def json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "workspace_id": self.workspace_id,
            "status": self.status,
            "diff": self.diff,
            "binary": self.binary,
            "additions": self.additions,
            "deletions": self.deletions,
            "before_size": self.before_size,
            "after_size": self.after_size,
        }


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _range(start: int, stop: int) -> str:
    """A hunk header's range, as difflib writes it (``3``, ``3,4``, ``2,0``)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def _hunks(
    old: list[str], new: list[str], old_keys: list[str], new_keys: list[str]
) -> tuple[str, int, int]:
    """difflib's unified hunks of ``old`` -> ``new`` with their +/- counts, lines matched by
    their keys (a notebook's cell headers without the cells' positions) and context lines
    shown as they are in ``new``."""
    out: list[str] = []
    added = removed = 0
    for group in difflib.SequenceMatcher(None, old_keys, new_keys).get_grouped_opcodes(3):
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in new[j1:j2]]
                continue
            out += ["-" + line for line in old[i1:i2]]
            out += ["+" + line for line in new[j1:j2]]
            removed += i2 - i1
            added += j2 - j1
    text = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out
    )
    return text, added, removed


NOTEBOOK_SAME = "Notebook metadata or outputs changed; the cells' sources are the same.\n"


def _ended(lines: list[str]) -> list[str]:
    return [line + "\n" for line in lines]


def _notebook_cells(side: Side) -> list[Mapping[str, Any]] | None:
    """A kept side's cells ([] for no file), None when it is not a notebook."""
    return parse_cells(side.text or "") if side.exists else []


def unified_diff(path: str, before: Side, after: Side) -> tuple[str, int, int]:
    """A diff of one file with its +/- line counts: ``patch -p1``/``git apply`` compatible,
    except for a notebook (``.ipynb`` whose kept sides parse): that one compares its cells as
    readable text (``notebook_text``), to be read rather than applied."""
    old = f"a/{path}" if before.exists else "/dev/null"
    new = f"b/{path}" if after.exists else "/dev/null"
    if not (before.kept and after.kept):
        sizes = f"{_human_size(before.size if before.exists else 0)} -> "
        sizes += _human_size(after.size if after.exists else 0)
        return f"Binary or large files {old} and {new} differ ({sizes}; content not kept)\n", 0, 0
    a, b = _lines(before.text or ""), _lines(after.text or "")
    a_keys, b_keys = a, b
    old_cells = _notebook_cells(before) if path.endswith(".ipynb") else None
    new_cells = _notebook_cells(after) if old_cells is not None else None
    if old_cells is not None and new_cells is not None:
        a_keys = _ended(notebook_lines(old_cells, positions=False))
        b_keys = _ended(notebook_lines(new_cells, positions=False))
        if before.exists and after.exists and a_keys == b_keys and before.text != after.text:
            # a re-run or a kernel change: one line, not hunks of JSON noise; without --- and
            # +++ lines the frontend shows it as the file's summary
            return NOTEBOOK_SAME, 0, 0
        a, b = _ended(notebook_lines(old_cells)), _ended(notebook_lines(new_cells))
    hunks, added, removed = _hunks(a, b, a_keys, b_keys)
    return f"--- {old}\n+++ {new}\n{hunks}", added, removed


def _net(path: str, first: FileChange, last: FileChange) -> FileDiff | None:
    before, after = _before(first), _after(last)
    if before.same_as(after):
        return None
    status: Status = "added" if not before.exists else "deleted" if not after.exists else "modified"
    text, added, removed = unified_diff(path, before, after)
    return FileDiff(
        workspace_id=last.workspace_id,
        path=path,
        status=status,
        diff=text,
        binary=not (before.kept and after.kept),
        additions=added,
        deletions=removed,
        before_size=before.size if before.exists else None,
        after_size=after.size if after.exists else None,
    )


Key = tuple[str | None, str]


_CHANGE_COLUMNS = [c.key for c in FileChange.__table__.columns if c.key not in ("id", "seq")]
# One prebuilt statement: the tree's next seq is taken atomically with the insert.
_INSERT_CHANGE = insert(FileChange).from_select(
    [*_CHANGE_COLUMNS, "seq"],
    select(
        *(bindparam(k, type_=FileChange.__table__.c[k].type) for k in _CHANGE_COLUMNS),
        func.coalesce(func.max(FileChange.seq), 0) + 1,
    ).where(FileChange.root_id == bindparam("root_id")),
)


class ChangeLog:
    def __init__(self, engine: AsyncEngine, inline: InlineWriter | None = None) -> None:
        """``inline``: the store's in-place SQLite writer, for ``record`` (every file write
        of an agent)."""
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._postgres = engine.dialect.name == "postgresql"
        self._inline = (inline, inline.compile(_INSERT_CHANGE)) if inline else None

    async def record(
        self,
        chat_id: str,
        root_id: str,
        workspace_id: str | None,
        path: str,
        before: bytes | int | None,
        after: bytes | int | None,
    ) -> None:
        """Log one write: ``before``/``after`` are the content, None (no file) or a size (a
        file too large to read)."""
        await self._append(chat_id, root_id, workspace_id, path, side(before), side(after))

    async def _append(
        self, chat_id: str, root_id: str, workspace_id: str | None, path: str, b: Side, a: Side
    ) -> None:
        values: dict[str, Any] = {
            "chat_id": chat_id,
            "root_id": root_id,
            "workspace_id": workspace_id,
            "path": path,
            "before": b.text,
            "after": a.text,
            "before_exists": b.exists,
            "after_exists": a.exists,
            "binary_or_large": not (b.kept and a.kept),
            "before_size": b.size,
            "after_size": a.size,
            "before_sha256": b.sha256,
            "after_sha256": a.sha256,
            "created_at": utcnow(),
        }
        if self._inline is not None:
            writer, insert_change = self._inline
            if writer.run([(insert_change, values)]) is not None:
                return
        async with self.engine.begin() as conn:
            if self._postgres:  # the tree's writers in line until this transaction ends
                await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(root_id))))
            await conn.execute(_INSERT_CHANGE, values)

    async def _groups(self, chat_ids: Sequence[str]) -> dict[Key, list[FileChange]]:
        """Changes of these chats by (workspace, path), each in the order they happened."""
        if not chat_ids:
            return {}
        async with self._sessions() as s:
            rows = await s.execute(
                select(FileChange)
                .where(FileChange.chat_id.in_(list(chat_ids)))
                .order_by(FileChange.seq, FileChange.id)
            )
            groups: dict[Key, list[FileChange]] = {}
            for row in rows.scalars():
                groups.setdefault((row.workspace_id, row.path), []).append(row)
        return groups

    async def changes(self, chat_ids: Sequence[str]) -> list[FileChange]:
        """Every recorded change of these chats, in order."""
        return sorted(
            (r for rows in (await self._groups(chat_ids)).values() for r in rows),
            key=lambda r: (r.seq, r.id),
        )

    async def diff(self, chat_ids: Sequence[str]) -> list[FileDiff]:
        """The net change of every file these chats wrote, by workspace and path; files that
        ended as they started are left out."""
        groups = await self._groups(chat_ids)

        def compute() -> list[FileDiff]:  # difflib on large texts takes a while
            nets = (_net(path, rows[0], rows[-1]) for (_, path), rows in groups.items())
            return sorted(
                (d for d in nets if d is not None), key=lambda d: (d.workspace_id or "", d.path)
            )

        return await asyncio.to_thread(compute)

    async def revert(
        self,
        chat_ids: Sequence[str],
        paths: Sequence[str],
        read_current: ReadCurrent,
        write: WriteFile,
        *,
        chat_id: str | None = None,
        workspace_id: str | None = None,
    ) -> list[str]:
        """Put back the content ``paths`` had before these chats first wrote them.

        Every path is checked first: it must have been written by these chats (else
        ``NotFound``), still hold what they last wrote, and have had its earlier content kept
        (else ``ChangeConflict`` naming the files, and nothing is written). The revert itself
        is logged as a change of ``chat_id`` (default: the first of ``chat_ids``). With
        ``workspace_id``, only that workspace's files of these names are meant. Returns the
        reverted paths.
        """
        if not paths:
            raise BadRequest("Give at least one path to revert.")
        if not chat_ids:
            raise NotFound(f"No change to {paths[0]} was recorded in this chat.")
        groups = await self._groups(chat_ids)
        wanted = list(dict.fromkeys(paths))
        targets: list[tuple[Key, FileChange, FileChange]] = []
        for path in wanted:
            found = [
                (key, rows[0], rows[-1])
                for key, rows in groups.items()
                if key[1] == path and (workspace_id is None or key[0] == workspace_id)
            ]
            if not found:
                raise NotFound(f"No change to {path} was recorded in this chat.")
            targets += found
        problems: list[tuple[str, str]] = []
        for (ws_id, path), first, last in targets:
            want, have = _before(first), _after(last)
            if not want.kept:
                problems.append(
                    (
                        path,
                        "cannot be restored: its earlier content was not kept (binary, or "
                        f"larger than {MAX_KEPT // 1024} KB)",
                    )
                )
                continue
            current = await read_current(ws_id, path)
            if not have.same_as(Side(exists=current is not None, sha256=current)):
                problems.append((path, "changed since the agent last wrote it"))
        if problems:
            raise ChangeConflict(problems)
        by = chat_id or chat_ids[0]
        for (ws_id, path), first, last in targets:
            want, have = _before(first), _after(last)
            if want.same_as(have):
                continue  # already as it was
            await write(ws_id, path, want.content())
            await self._append(by, last.root_id, ws_id, path, have, want)
        return wanted
