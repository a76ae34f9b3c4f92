"""Change review: what a chat (and its sub-agents) wrote, and putting files back.

``change_recorder`` is what the loop hands the file tools as ``ToolContext.record_change``.
``ChangeService`` serves ``GET chats/{id}/diff`` and ``POST chats/{id}/revert``: it resolves
the chat tree (ownership checked by the store), and reaches files through the ``Workspace``
interface only, so a revert works the same on a local folder and over SSH.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence

from ..db.changes import ChangeLog, FileDiff
from ..db.models import Chat
from ..db.states import ChatStatus
from ..db.store import Caller
from ..errors import Conflict, NotFound, WorkspaceError
from ..tools.base import RecordChange
from ..workspaces.base import Workspace
from .runtime import Runtime

HASH_CHUNK = 1024 * 1024
MAX_HASHED = 256 * 1024 * 1024
"""A file larger than this is not read to compare it: no tool writes files that large."""


def relative_path(root: str, path: str) -> str:
    """``path`` relative to the workspace root when inside it, else as given (absolute)."""
    root = root.rstrip("/")
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


def change_recorder(
    rt: Runtime,
    chat_id: str,
    get_workspace: Callable[[], Awaitable[Workspace]] | None = None,
    log: ChangeLog | None = None,
) -> RecordChange:
    """``record_change`` for the tools of one chat: logs each write under the chat, its tree's
    root and its workspace, the path relative to that workspace's root."""
    changes = log or ChangeLog(rt.store.engine, rt.store.inline)
    loaded: list[Chat] = []  # the chat, read once: its root and workspace hold for a turn

    async def record(path: str, before: bytes | int | None, after: bytes | None) -> None:
        if not loaded:
            loaded.append(await rt.store.load(chat_id))
        chat = loaded[0]
        ws = await (get_workspace() if get_workspace else rt.workspace_for(chat_id))
        await changes.record(
            chat_id,
            chat.root_id or chat.id,
            chat.workspace_id,
            relative_path(ws.root, path),
            before,
            after,
        )

    return record


async def file_sha256(ws: Workspace, path: str) -> str | None:
    """sha256 of a file's content now (None: it does not exist), read in chunks."""
    st = await ws.stat(path)
    if st is None:
        return None
    if not st.is_file:
        return "not a regular file"
    if st.size > MAX_HASHED:
        return f"{st.size} bytes"
    digest = hashlib.sha256()
    offset = 0
    while True:
        chunk = await ws.read_bytes(path, HASH_CHUNK, offset)
        digest.update(chunk)
        offset += len(chunk)
        if len(chunk) < HASH_CHUNK:
            return digest.hexdigest()


class ChangeService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.log = ChangeLog(rt.store.engine, rt.store.inline)
        self._reverting = asyncio.Lock()

    def recorder(
        self, chat_id: str, get_workspace: Callable[[], Awaitable[Workspace]] | None = None
    ) -> RecordChange:
        return change_recorder(self.rt, chat_id, get_workspace, self.log)

    async def tree(self, chat: Chat) -> list[Chat]:
        """The chat and every sub-agent below it."""
        out, todo = [chat], [chat.id]
        while todo:
            children = await self.rt.store.children(todo.pop())
            out += children
            todo += [c.id for c in children]
        return out

    async def diff(self, caller: Caller, chat_id: str) -> list[FileDiff]:
        """The net change of every file the chat and its sub-agents wrote."""
        chat = await self.rt.store.get_chat(caller, chat_id)
        return await self.log.diff([c.id for c in await self.tree(chat)])

    async def revert(
        self,
        caller: Caller,
        chat_id: str,
        paths: Sequence[str],
        workspace_id: str | None = None,
    ) -> list[str]:
        """Put ``paths`` back as they were before the chat (tree) first wrote them; a file
        changed since is a conflict and then nothing is written."""
        chat = await self.rt.store.get_chat(caller, chat_id)
        if chat.owner != caller.name:  # admins may read every chat, never act on it
            raise NotFound(f"No chat with id {chat_id}.")
        tree = await self.tree(chat)
        if any(c.status == ChatStatus.RUNNING for c in tree):
            raise Conflict(
                "The chat or one of its sub-agents is running; stop it or wait for its turn "
                "to end before reverting files."
            )
        opened: dict[str | None, Workspace] = {}

        async def workspace(ws_id: str | None) -> Workspace:
            if ws_id not in opened:
                holder = chat if chat.workspace_id == ws_id else None
                holder = holder or next((c for c in tree if c.workspace_id == ws_id), None)
                if ws_id is None or holder is None:
                    raise Conflict(
                        f"The workspace {ws_id} is no longer used by this chat; its files "
                        "cannot be reverted from here."
                    )
                ws = await self.rt.workspace_for(holder.id)
                await ws.connect()
                opened[ws_id] = ws
            return opened[ws_id]

        async def read_current(ws_id: str | None, path: str) -> str | None:
            ws = await workspace(ws_id)
            return await file_sha256(ws, ws.resolve(path))

        async def write(ws_id: str | None, path: str, content: bytes | None) -> None:
            ws = await workspace(ws_id)
            target = ws.resolve(path)
            if content is None:
                await ws.remove(target)
            else:
                await ws.write_files_atomic({target: content})

        try:
            async with self._reverting:
                return await self.log.revert(
                    [c.id for c in tree],
                    paths,
                    read_current,
                    write,
                    chat_id=chat.id,
                    workspace_id=workspace_id,
                )
        except WorkspaceError as exc:
            raise Conflict(f"Reverting failed in the workspace: {exc}") from None
