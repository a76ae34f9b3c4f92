"""When a running chat's messages and file changes reach the database.

A step's bookkeeping need not hold up its work: its messages (the assistant's tool calls, then
their results) and file changes are written while the vendor works on the next model call,
once that request has been sent (``llm.http.after_request_sent``), or ``BEHIND_S`` after they
were saved if that comes first (a long tool call does not wait for its end). Writes keep their
order; those waiting go in one transaction, in place on SQLite when it can
(``Store.append_now``). ``flush`` waits for all of them and raises what a message write
raised. A crash loses at most the writes still waiting, which recovery treats like any crash:
tool calls are at-least-once, and an unanswered one is answered "interrupted".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..db.models import Message as MessageRow
from ..db.models import message_json
from ..events import MessageEndEvent
from ..tools.base import RecordChange
from ..workspaces.base import Workspace
from .changes import change_recorder
from .runtime import Runtime

log = logging.getLogger(__name__)

BEHIND_S = 0.05
"""The longest a saved message or file change waits for the next model call to be written."""

Change = tuple[str, bytes | int | None, bytes | None]


class ChatWriter:
    """The writes of one running chat, in the order they were saved."""

    def __init__(
        self,
        rt: Runtime,
        chat_id: str,
        publish: Callable[[MessageEndEvent], None],
        get_workspace: Callable[[], Awaitable[Workspace]],
    ) -> None:
        self._rt = rt
        self._chat_id = chat_id
        self._publish = publish
        self._get_workspace = get_workspace
        self._writing: asyncio.Task[None] | None = None
        self._recording: asyncio.Task[None] | None = None
        self._recorder: RecordChange | None = None
        self._behind: list[MessageRow] = []
        self._changes: list[Change] = []
        self._timer: asyncio.TimerHandle | None = None

    def now(self, row: MessageRow) -> None:
        """Write ``row`` (after those waiting) here if nothing is in flight and the database
        allows it, else next."""
        self._behind.append(row)
        self.release()

    def behind(self, row: MessageRow) -> None:
        """Write ``row`` once the next model request has been sent (``release``)."""
        self._behind.append(row)
        self._arm()

    def change(self, path: str, before: bytes | int | None, after: bytes | None) -> None:
        """Log a file write for change review, with the rows written behind."""
        self._changes.append((path, before, after))
        self._arm()

    def release(self) -> None:
        """Write what waits to be written behind (the model request has been sent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rows, self._behind = self._behind, []
        changes, self._changes = self._changes, []
        if rows:
            self._write(rows)
        if changes:
            if self._recorder is None:
                self._recorder = change_recorder(self._rt, self._chat_id, self._get_workspace)
            self._recording = asyncio.create_task(
                self._record(self._recorder, changes, self._recording)
            )

    def _write(self, rows: list[MessageRow]) -> None:
        previous = self._writing
        if previous is None or (
            previous.done() and not previous.cancelled() and previous.exception() is None
        ):
            # In one transaction, here. A failure is left to the task below, so that it
            # surfaces at ``flush`` like any failed write.
            try:
                ids = self._rt.store.append_now(*rows)
            except Exception:
                ids = None
            if ids is not None:
                self._writing = None
                for row, id_ in zip(rows, ids, strict=True):
                    row.id = id_
                    self._publish(MessageEndEvent(message=message_json(row)))
                return
        self._writing = asyncio.create_task(self._write_later(rows, previous))

    async def flush(self) -> None:
        """Wait until every saved message and file change is in the database; raises what a
        message write raised."""
        self.release()
        if self._recording is not None:
            await asyncio.gather(self._recording, return_exceptions=True)
        if self._writing is not None:
            await asyncio.shield(self._writing)

    def workspace_changed(self) -> None:
        """Later changes are logged under the chat's new workspace."""
        self.release()
        self._recorder = None

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BEHIND_S, self.release)

    async def _write_later(
        self, rows: list[MessageRow], previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            await previous
        for row in rows:
            row.id = await self._rt.store.append(row)
            self._publish(MessageEndEvent(message=message_json(row)))

    async def _record(
        self,
        recorder: RecordChange,
        changes: list[Change],
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        for path, before, after in changes:
            try:
                await recorder(path, before, after)
            except Exception as exc:
                log.error(
                    "chat %s: the change of %s was not recorded: %s", self._chat_id, path, exc
                )
