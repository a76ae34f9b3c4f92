"""The one store: every read and write of chats, messages, queue, attachments and workspaces.

Methods are domain verbs. Those taking a ``Caller`` apply ownership in one place (``_chat``):
a user sees only their own rows; admins may read (never act on) everyone's. Status changes go
through ``_transition`` (the table in ``states.py``) and are published on the event bus after
the transaction commits. Worker verbs (claim, heartbeat, recover, append) take no caller: the
worker acts as the chat's owner by construction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..errors import BadRequest, Conflict, NotFound
from ..events import ChildEvent, EventBus, MessageEndEvent, QueueEvent, StatusEvent
from .inline import DriverStatement, InlineWriter
from .models import Attachment, Chat, Message, QueuedMessage, Workspace, message_json, utcnow
from .states import ACTIVE, ChatStatus, allowed_from

S = ChatStatus


_ANNOUNCE = "coder_agents_announce"
"""Session info key: messages to publish once the transaction commits."""


@dataclass(frozen=True)
class Caller:
    """Who is asking: Jupyter's username, whether they may audit every chat, and who they are
    (commits made for them carry ``display_name`` and ``email``; ``groups`` open templates)."""

    name: str
    is_admin: bool = False
    display_name: str = ""
    email: str = ""
    groups: frozenset[str] = frozenset()

    def info(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name or self.name,
            "email": self.email,
            "groups": sorted(self.groups),
        }


def new_id() -> str:
    return str(uuid.uuid4())


def title_from(content: list[dict[str, Any]]) -> str:
    text = " ".join(b.get("text", "") for b in content if b.get("type") == "text").strip()
    words = text.split()
    title = " ".join(words[:8])
    return (title[:77] + "...") if len(title) > 80 else (title or "New chat")


# Built once: constructing statements per call costs more than executing them on SQLite.
_SET_COUNT = (
    update(Chat)
    .where(Chat.id == bindparam("chat_id"))
    .values(message_count=bindparam("seq"), updated_at=bindparam("now"))
)
_MESSAGE_COLUMNS = [c.key for c in Message.__table__.columns if c.key != "id"]
_INSERT_MESSAGE = (
    insert(Message).values({c: bindparam(c) for c in _MESSAGE_COLUMNS}).returning(Message.id)
)


def _append_params(message: Message) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters of ``_SET_COUNT`` and ``_INSERT_MESSAGE`` for ``message``."""
    count = {"chat_id": message.chat_id, "seq": message.seq, "now": message.created_at}
    return count, {c: getattr(message, c) for c in _MESSAGE_COLUMNS}


OWNED = (S.RUNNING.value, S.REQUIRES_ACTION.value)
"""Statuses in which a worker owns the chat (and heartbeats it)."""


def queue_item(q: QueuedMessage) -> dict[str, Any]:
    return {"id": q.id, "content": q.content, "created_at": q.created_at.isoformat()}


class Store:
    def __init__(self, engine: AsyncEngine, bus: EventBus) -> None:
        self.engine = engine
        self.bus = bus
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._locking = engine.dialect.name == "postgresql"
        self.inline = InlineWriter.for_engine(engine)
        if self.inline is not None:
            self._inline_append = (
                self.inline.compile(_SET_COUNT),
                self.inline.compile(_INSERT_MESSAGE),
            )

    def close(self) -> None:
        """Close the in-place writer (the engine is disposed by its owner)."""
        if self.inline is not None:
            self.inline.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        """One transaction; the messages it added are announced once it committed, so a
        user's message shows in every open view of the chat."""
        async with self._sessions() as session:
            async with session.begin():
                yield session
            for msg in session.info.pop(_ANNOUNCE, ()):
                self.bus.publish(msg.chat_id, MessageEndEvent(message=message_json(msg)))

    # ----- ownership and state, in one place -----

    async def _chat(
        self, s: AsyncSession, chat_id: str, caller: Caller | None, *, write: bool = True
    ) -> Chat:
        stmt = select(Chat).where(Chat.id == chat_id)
        if self._locking and write:
            stmt = stmt.with_for_update()
        chat = (await s.execute(stmt)).scalar_one_or_none()
        if chat is None or (
            caller is not None and chat.owner != caller.name and not (caller.is_admin and not write)
        ):
            raise NotFound(f"No chat with id {chat_id}.")
        return chat

    def _transition(
        self, chat: Chat, to: ChatStatus, *, error: dict[str, Any] | None = None
    ) -> None:
        current = ChatStatus(chat.status)
        if current == to:
            return
        if current not in allowed_from(to):
            raise Conflict(f"The chat is {current.value}; it cannot become {to.value}.")
        if current == S.REQUIRES_ACTION and to != S.RUNNING:
            chat.awaiting = None  # stopped or failed while waiting: nobody decides any more
        chat.status = to.value
        chat.error = error if to == S.ERROR else None
        chat.updated_at = utcnow()
        if to not in (S.RUNNING, S.REQUIRES_ACTION):  # waiting on a person keeps the owner
            chat.worker_id = None
        if to not in ACTIVE:
            chat.stop_requested = None

    def _published(self, chat: Chat) -> None:
        self.bus.publish(chat.id, StatusEvent(status=chat.status, error=chat.error))
        if chat.parent_id:  # the parent's view (and its wait_agent) follows its children
            self.bus.publish(chat.parent_id, ChildEvent(child_id=chat.id, status=chat.status))
        if chat.status == S.PENDING:
            self.bus.wake_worker()

    async def _append(
        self,
        s: AsyncSession,
        chat: Chat,
        role: str,
        content: list[dict[str, Any]],
        *,
        announce: bool = True,
        **fields: Any,
    ) -> Message:
        chat.message_count += 1
        msg = Message(
            chat_id=chat.id,
            seq=chat.message_count,
            role=role,
            content=content,
            created_at=utcnow(),
            **fields,
        )
        s.add(msg)
        chat.updated_at = utcnow()
        await s.flush()
        if announce:
            s.info.setdefault(_ANNOUNCE, []).append(msg)
        return msg

    async def _queue(self, s: AsyncSession, chat_id: str) -> list[QueuedMessage]:
        rows = await s.execute(
            select(QueuedMessage)
            .where(QueuedMessage.chat_id == chat_id)
            .order_by(QueuedMessage.position, QueuedMessage.id)
        )
        return list(rows.scalars())

    async def _publish_queue(self, chat_id: str) -> None:
        async with self._sessions() as s:
            items = await self._queue(s, chat_id)
        self.bus.publish(chat_id, QueueEvent(queue=[queue_item(q) for q in items]))

    # ----- chats (API verbs) -----

    async def create_chat(
        self,
        caller: Caller,
        content: list[dict[str, Any]],
        *,
        model: str,
        workspace_id: str | None = None,
        plan_mode: bool = False,
        reasoning_effort: str | None = None,
        parent_id: str | None = None,
        title: str | None = None,
        agent_type: str | None = None,
    ) -> Chat:
        async with self._tx() as s:
            root_id = None
            if parent_id is not None:
                parent = await self._chat(s, parent_id, caller)
                root_id = parent.root_id or parent.id
            chat = Chat(
                id=new_id(),
                owner=caller.name,
                title=title or title_from(content),
                status=S.PENDING.value,
                model=model,
                workspace_id=workspace_id,
                parent_id=parent_id,
                root_id=root_id,
                plan_mode=plan_mode,
                reasoning_effort=reasoning_effort,
                agent_type=agent_type,
                owner_info=caller.info(),
                created_at=utcnow(),
                updated_at=utcnow(),
                message_count=0,
            )
            s.add(chat)
            await self._append(s, chat, "user", content)
        self._published(chat)
        return chat

    async def get_chat(self, caller: Caller, chat_id: str) -> Chat:
        async with self._sessions() as s:
            return await self._chat(s, chat_id, caller, write=False)

    async def list_chats(
        self,
        caller: Caller,
        *,
        status: str | None = None,
        parent_id: str | None = None,
        limit: int = 50,
        before: datetime | None = None,
        include_archived: bool = False,
    ) -> list[Chat]:
        stmt = select(Chat).where(Chat.owner == caller.name)
        if not include_archived:
            stmt = stmt.where(Chat.archived.is_(False))
        if status:
            stmt = stmt.where(Chat.status == status)
        stmt = (
            stmt.where(Chat.parent_id == parent_id)
            if parent_id
            else stmt.where(Chat.parent_id.is_(None))
        )
        if before is not None:
            stmt = stmt.where(Chat.updated_at < before)
        stmt = stmt.order_by(Chat.updated_at.desc(), Chat.id).limit(limit)
        async with self._sessions() as s:
            return list((await s.execute(stmt)).scalars())

    async def children(self, chat_id: str) -> list[Chat]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(Chat).where(Chat.parent_id == chat_id).order_by(Chat.created_at)
            )
            return list(rows.scalars())

    async def update_chat(self, caller: Caller, chat_id: str, **changes: Any) -> Chat:
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            for key, value in changes.items():
                if value is not None:
                    setattr(chat, key, value)
            chat.updated_at = utcnow()
        return chat

    async def archive_chat(self, caller: Caller, chat_id: str) -> Chat:
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            for c in [chat, *await self._children(s, chat_id)]:
                c.archived = True
                c.updated_at = utcnow()
                if c.status in ACTIVE:
                    self._stop(c)
        return chat

    async def tree_ids(self, root_id: str) -> list[str]:
        """A root chat and every sub-agent below it."""
        async with self._sessions() as s:
            rows = await s.execute(select(Chat.id).where(Chat.root_id == root_id))
            return [root_id, *rows.scalars()]

    async def usage_totals(self, chat_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Summed token usage per chat (from the per-message usage)."""
        out: dict[str, dict[str, int]] = {cid: {} for cid in chat_ids}
        async with self._sessions() as s:
            rows = await s.execute(
                select(Message.chat_id, Message.usage).where(
                    Message.chat_id.in_(chat_ids), Message.usage.is_not(None)
                )
            )
            for chat_id, usage in rows:
                total = out[chat_id]
                for k, v in (usage or {}).items():
                    if isinstance(v, int):
                        total[k] = total.get(k, 0) + v
        return out

    # ----- messages and the queue -----

    async def list_messages(
        self,
        caller: Caller,
        chat_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 500,
    ) -> list[Message]:
        """Messages in order: the first ``limit`` after ``after``, or with ``before`` (and no
        ``after``) the last ``limit`` before it, so a long chat can be opened at its end."""
        async with self._sessions() as s:
            await self._chat(s, chat_id, caller, write=False)
            stmt = select(Message).where(Message.chat_id == chat_id)
            if after is not None:
                stmt = stmt.where(Message.seq > after)
            if before is not None:
                stmt = stmt.where(Message.seq < before)
            if before is not None and after is None:
                rows = await s.execute(stmt.order_by(Message.seq.desc()).limit(limit))
                return list(reversed(rows.scalars().all()))
            stmt = stmt.order_by(Message.seq).limit(limit)
            return list((await s.execute(stmt)).scalars())

    async def send_message(
        self, caller: Caller, chat_id: str, content: list[dict[str, Any]]
    ) -> tuple[bool, Message | QueuedMessage]:
        """Start a turn with ``content``, or queue it while one runs. Returns (queued, row)."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            if chat.archived:
                raise Conflict("This chat is archived; start a new chat or fork it.")
            chat.owner_info = caller.info()
            if (chat.awaiting or {}).get("kind") in ("plan", "question"):
                chat.awaiting = None  # the user wrote instead of using the buttons
            queue = await self._queue(s, chat_id)
            if chat.status in ACTIVE or queue:
                position = (queue[-1].position + 1) if queue else 0
                item = QueuedMessage(
                    chat_id=chat_id, position=position, content=content, created_at=utcnow()
                )
                s.add(item)
                await s.flush()
                if chat.status not in ACTIVE:  # idle with a queue: keep order, start the head
                    head = queue[0]
                    await self._append(s, chat, "user", head.content)
                    await s.delete(head)
                    self._transition(chat, S.PENDING)
                result: tuple[bool, Message | QueuedMessage] = (True, item)
            else:
                msg = await self._append(s, chat, "user", content)
                self._transition(chat, S.PENDING)
                result = (False, msg)
        self._published(chat)
        await self._publish_queue(chat_id)
        return result

    async def list_queue(self, caller: Caller, chat_id: str) -> list[QueuedMessage]:
        async with self._sessions() as s:
            await self._chat(s, chat_id, caller, write=False)
            return await self._queue(s, chat_id)

    async def _queued(self, s: AsyncSession, chat_id: str, qid: int) -> QueuedMessage:
        item = await s.get(QueuedMessage, qid)
        if item is None or item.chat_id != chat_id:
            raise NotFound(f"No queued message {qid} in this chat.")
        return item

    async def edit_queued(
        self, caller: Caller, chat_id: str, qid: int, content: list[dict[str, Any]]
    ) -> QueuedMessage:
        async with self._tx() as s:
            await self._chat(s, chat_id, caller)
            item = await self._queued(s, chat_id, qid)
            item.content = content
        await self._publish_queue(chat_id)
        return item

    async def delete_queued(self, caller: Caller, chat_id: str, qid: int) -> None:
        async with self._tx() as s:
            await self._chat(s, chat_id, caller)
            await s.delete(await self._queued(s, chat_id, qid))
        await self._publish_queue(chat_id)

    async def send_queued_now(self, caller: Caller, chat_id: str, qid: int) -> Chat:
        """Move an item to the head of the queue and interrupt the running turn for it."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            item = await self._queued(s, chat_id, qid)
            queue = await self._queue(s, chat_id)
            item.position = queue[0].position - 1 if queue else 0
            if chat.status == S.PENDING:
                pass  # nothing runs yet: the item is simply next
            elif chat.status in ACTIVE:
                chat.stop_requested = "send_now"
            else:
                await self._append(s, chat, "user", item.content)
                await s.delete(item)
                self._transition(chat, S.PENDING)
        if chat.status == S.PENDING:
            self._published(chat)
        await self._publish_queue(chat_id)
        return chat

    # ----- turn control (API verbs) -----

    async def request_stop(self, caller: Caller, chat_id: str) -> Chat:
        """Ask the owning worker to stop (a chat nobody runs yet is paused at once); a
        parent's stop reaches its active sub-agents too."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            if chat.status not in ACTIVE:
                raise Conflict(f"The chat is {chat.status}; there is nothing to stop.")
            children = await self._children(s, chat_id)
            stopped = [c for c in [chat, *children] if c.status in ACTIVE]
            for c in stopped:
                self._stop(c)
        for c in stopped:
            if c.status == S.PAUSED:
                self._published(c)
        return chat

    def _stop(self, chat: Chat) -> None:
        if chat.status == S.PENDING or (chat.status == S.REQUIRES_ACTION and not chat.worker_id):
            self._transition(chat, S.PAUSED)
        else:
            chat.stop_requested = "stop"

    async def _children(self, s: AsyncSession, chat_id: str) -> list[Chat]:
        rows = await s.execute(select(Chat).where(Chat.parent_id == chat_id))
        return list(rows.scalars())

    async def complete(self, chat_id: str) -> Chat:
        """A sub-agent closed by its parent."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, None)
            self._transition(chat, S.COMPLETED)
        self._published(chat)
        return chat

    async def retry(self, caller: Caller, chat_id: str) -> Chat:
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            if chat.status not in (S.ERROR, S.PAUSED):
                raise Conflict(
                    f"The chat is {chat.status}; only a failed or stopped chat can be retried."
                )
            if chat.archived:
                raise Conflict("This chat is archived.")
            self._transition(chat, S.PENDING)
        self._published(chat)
        return chat

    async def fork(self, caller: Caller, chat_id: str, message_id: int) -> Chat:
        """A new chat with this chat's history up to ``message_id`` (and its tool results)."""
        async with self._tx() as s:
            src = await self._chat(s, chat_id, caller, write=False)
            anchor = await s.get(Message, message_id)
            if anchor is None or anchor.chat_id != chat_id:
                raise NotFound(f"No message {message_id} in this chat.")
            rows = list(
                (
                    await s.execute(
                        select(Message)
                        .where(Message.chat_id == chat_id, Message.seq <= anchor.seq + 1)
                        .order_by(Message.seq)
                    )
                ).scalars()
            )
            # A tool call without its results cannot be continued: take the results along.
            if not (rows[-1].role == "tool" and anchor.role == "assistant"):
                rows = [m for m in rows if m.seq <= anchor.seq]
            chat = Chat(
                id=new_id(),
                owner=caller.name,
                title=f"{src.title} (fork)"[:200],
                status=S.WAITING.value,
                model=src.model,
                workspace_id=src.workspace_id,
                plan_mode=src.plan_mode,
                forked_from=src.id,
                created_at=utcnow(),
                updated_at=utcnow(),
                message_count=0,
            )
            s.add(chat)
            for m in rows:
                await self._append(
                    s,
                    chat,
                    m.role,
                    m.content,
                    usage=m.usage,
                    model=m.model,
                    is_summary=m.is_summary,
                    summary_through_seq=m.summary_through_seq,
                    announce=False,  # a new chat: nobody follows it yet
                )
        return chat

    # ----- worker verbs -----

    async def claim(self, worker_id: str, limit: int, children: int | None = None) -> list[Chat]:
        """Take up to ``limit`` pending chats for this worker (``running``, fresh heartbeat),
        of which at most ``children`` sub-agents."""
        if limit <= 0:
            return []
        stmt = (
            select(Chat.id, Chat.parent_id)
            .where(Chat.status == S.PENDING.value, Chat.archived.is_(False))
            .order_by(Chat.updated_at)
            .limit(limit * 4)
        )
        if self._locking:
            stmt = stmt.with_for_update(skip_locked=True)
        claimed: list[str] = []
        child_quota = limit if children is None else children
        async with self._tx() as s:
            for chat_id, parent_id in (await s.execute(stmt)).all():
                if len(claimed) >= limit:
                    break
                if parent_id is not None:
                    if child_quota <= 0:
                        continue
                    child_quota -= 1
                res = await s.execute(
                    update(Chat)
                    .where(Chat.id == chat_id, Chat.status == S.PENDING.value)
                    .values(
                        status=S.RUNNING.value,
                        worker_id=worker_id,
                        heartbeat_at=utcnow(),
                        updated_at=utcnow(),
                        error=None,
                    )
                )
                if res.rowcount == 1:
                    claimed.append(chat_id)
            chats = list((await s.execute(select(Chat).where(Chat.id.in_(claimed)))).scalars())
        for chat in chats:
            self._published(chat)
        return chats

    async def heartbeat(self, worker_id: str, chat_ids: Sequence[str]) -> tuple[set[str], set[str]]:
        """Refresh our leases. Returns (ids still ours, ids whose stop was requested)."""
        if not chat_ids:
            return set(), set()
        async with self._tx() as s:
            await s.execute(
                update(Chat)
                .where(Chat.id.in_(chat_ids), Chat.worker_id == worker_id)
                .values(heartbeat_at=utcnow())
            )
            rows = (
                await s.execute(
                    select(Chat.id, Chat.stop_requested).where(
                        Chat.id.in_(chat_ids),
                        Chat.worker_id == worker_id,
                        Chat.status.in_(OWNED),
                    )
                )
            ).all()
        return {r[0] for r in rows}, {r[0] for r in rows if r[1]}

    async def stale_running(self, stale_after: float) -> list[Chat]:
        """Running chats whose owner stopped heartbeating."""
        cutoff = utcnow() - timedelta(seconds=stale_after)
        async with self._sessions() as s:
            rows = await s.execute(
                select(Chat).where(
                    Chat.status.in_(OWNED),
                    or_(Chat.heartbeat_at.is_(None), Chat.heartbeat_at < cutoff),
                )
            )
            return list(rows.scalars())

    async def running_chats(self) -> list[Chat]:
        async with self._sessions() as s:
            rows = await s.execute(select(Chat).where(Chat.status.in_(OWNED)))
            return list(rows.scalars())

    async def requeue(self, chat_id: str, worker_id: str | None) -> bool:
        """Hand a running chat back to the pending pool (dead or stopping owner)."""
        async with self._tx() as s:
            cond = [Chat.id == chat_id, Chat.status.in_(OWNED)]
            cond.append(Chat.worker_id == worker_id if worker_id else Chat.worker_id.is_(None))
            res = await s.execute(
                update(Chat)
                .where(*cond)
                .values(status=S.PENDING.value, worker_id=None, updated_at=utcnow())
            )
        if res.rowcount == 1:
            self.bus.publish(chat_id, StatusEvent(status=S.PENDING.value))
            self.bus.wake_worker()
        return res.rowcount == 1

    async def load(self, chat_id: str) -> Chat:
        async with self._sessions() as s:
            chat = await s.get(Chat, chat_id)
            if chat is None:
                raise NotFound(f"No chat with id {chat_id}.")
            return chat

    async def set_awaiting(self, chat_id: str, awaiting: dict[str, Any] | None) -> None:
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, None)
            chat.awaiting = awaiting

    async def await_approvals(self, chat_id: str, calls: list[dict[str, Any]]) -> None:
        """The running turn waits for a person to decide on ``calls``."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, None)
            chat.awaiting = {"kind": "approval", "calls": calls, "decisions": {}}
            self._transition(chat, S.REQUIRES_ACTION)
        self._published(chat)

    async def decide_approval(
        self, caller: Caller, chat_id: str, tool_call_id: str, decision: str, reason: str | None
    ) -> Chat:
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            awaiting = dict(chat.awaiting or {})
            calls = {c["tool_call_id"]: c for c in awaiting.get("calls", [])}
            if awaiting.get("kind") != "approval" or chat.status != S.REQUIRES_ACTION:
                raise Conflict("No tool call in this chat waits for approval.")
            if tool_call_id not in calls:
                raise NotFound(f"No tool call {tool_call_id} waits for approval in this chat.")
            decisions = {
                **awaiting.get("decisions", {}),
                tool_call_id: {"decision": decision, "reason": reason},
            }
            chat.awaiting = {**awaiting, "decisions": decisions}
            if decision == "allow_chat":
                own = dict(chat.tool_policy or {})
                own["grants"] = sorted({*own.get("grants", []), calls[tool_call_id]["name"]})
                chat.tool_policy = own
            if set(decisions) >= set(calls):
                self._transition(chat, S.RUNNING)
        self._published(chat)
        return chat

    async def await_client_tools(self, chat_id: str, calls: list[dict[str, Any]]) -> None:
        """The running turn waits for the user's client to run ``calls`` (their kernel)."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, None)
            chat.awaiting = {"kind": "client_tool", "calls": calls, "results": {}}
            self._transition(chat, S.REQUIRES_ACTION)
        self._published(chat)

    async def record_tool_result(
        self, caller: Caller, chat_id: str, tool_call_id: str, content: str, is_error: bool
    ) -> Chat:
        """The user's client ran a call the turn waits for; the turn resumes once every call
        of the step has its result."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            awaiting = dict(chat.awaiting or {})
            if awaiting.get("kind") != "client_tool" or chat.status != S.REQUIRES_ACTION:
                raise Conflict("No tool call in this chat waits for a result from your client.")
            ids = {c["tool_call_id"] for c in awaiting.get("calls", [])}
            if tool_call_id not in ids:
                raise NotFound(f"No tool call {tool_call_id} waits for a result in this chat.")
            if tool_call_id in awaiting.get("results", {}):
                raise Conflict(f"The tool call {tool_call_id} already has its result.")
            results = {
                **awaiting.get("results", {}),
                tool_call_id: {"content": content, "is_error": is_error},
            }
            chat.awaiting = {**awaiting, "results": results}
            if set(results) >= ids:
                self._transition(chat, S.RUNNING)
        self._published(chat)
        return chat

    async def set_kernel(self, caller: Caller, chat_id: str, kernel: dict[str, Any] | None) -> Chat:
        """Give (or, with None, take back) the chat's consent to use a notebook's kernel."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, caller)
            chat.kernel = kernel
            chat.updated_at = utcnow()
        return chat

    async def switch_model(self, chat_id: str, model: str) -> None:
        """The worker moves a chat whose model an admin disabled to the default one."""
        async with self._tx() as s:
            await s.execute(update(Chat).where(Chat.id == chat_id).values(model=model))

    async def context_messages(self, chat_id: str) -> list[Message]:
        """What the model sees: the latest summary, then every message it does not cover."""
        async with self._sessions() as s:
            summary = (
                await s.execute(
                    select(Message)
                    .where(Message.chat_id == chat_id, Message.is_summary.is_(True))
                    .order_by(Message.seq.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            stmt = select(Message).where(Message.chat_id == chat_id, Message.is_summary.is_(False))
            if summary is not None:
                stmt = stmt.where(Message.seq > (summary.summary_through_seq or 0))
            rest = list((await s.execute(stmt.order_by(Message.seq))).scalars())
        return ([summary] if summary else []) + rest

    async def last_message(self, chat_id: str) -> Message | None:
        async with self._sessions() as s:
            return (
                await s.execute(
                    select(Message)
                    .where(Message.chat_id == chat_id, Message.is_summary.is_(False))
                    .order_by(Message.seq.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()

    def append_now(self, *messages: Message) -> list[int] | None:
        """``append`` of ``messages`` (one chat's, in order) in one transaction, done at once
        on SQLite when nobody else is writing (see ``inline``); their ids, or None when it
        must wait: then call ``append`` for each."""
        if self.inline is None or not messages:
            return None
        set_count, insert_message = self._inline_append
        steps: list[tuple[DriverStatement, dict[str, Any]]] = []
        for message in messages:
            count, values = _append_params(message)
            steps.append((insert_message, values))
        steps.append((set_count, count))
        rows = self.inline.run(steps)
        if rows is None:
            return None
        return [int(r[0]) for r in rows[:-1]]  # type: ignore[index]

    async def append(self, message: Message) -> int:
        """Insert a message the worker built (its ``seq`` allocated by the running turn, which
        owns the chat); returns its id. Two prebuilt statements, no ORM unit of work: this is
        on the path of every agent step."""
        done = self.append_now(message)
        if done is not None:
            return done[0]
        count, values = _append_params(message)
        async with self.engine.begin() as conn:
            await conn.execute(_SET_COUNT, count)
            return int((await conn.execute(_INSERT_MESSAGE, values)).scalar_one())

    async def finish_turn(self, chat_id: str) -> Message | None:
        """End of a turn: deliver the queue head as the next user message, or wait."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, None)
            queue = await self._queue(s, chat_id)
            if queue:
                head = queue[0]
                msg = await self._append(s, chat, "user", head.content)
                await s.delete(head)
            else:
                msg = None
                self._transition(chat, S.WAITING)
        if msg is None:
            self._published(chat)
        else:
            await self._publish_queue(chat_id)
        return msg

    async def end_turn(
        self, chat_id: str, status: ChatStatus, *, error: dict[str, Any] | None = None
    ) -> Chat:
        """Leave ``running`` for ``paused``/``error``/``waiting``; a requested queue resume
        (send-now) goes straight back to pending with the queue head delivered."""
        async with self._tx() as s:
            chat = await self._chat(s, chat_id, None)
            resume = status == S.PAUSED and chat.stop_requested == "send_now"
            queue = await self._queue(s, chat_id) if resume else []
            if queue:
                await self._append(s, chat, "user", queue[0].content)
                await s.delete(queue[0])
                self._transition(chat, S.PENDING)
            else:
                self._transition(chat, status, error=error)
        self._published(chat)
        if queue:
            await self._publish_queue(chat_id)
        return chat

    # ----- attachments -----

    async def save_attachment(
        self, owner: str, name: str, media_type: str, data: bytes, chat_id: str | None = None
    ) -> Attachment:
        att = Attachment(
            id=new_id(),
            owner=owner,
            chat_id=chat_id,
            name=name,
            media_type=media_type,
            size=len(data),
            data=data,
            created_at=utcnow(),
        )
        async with self._tx() as s:
            s.add(att)
        return att

    async def get_attachment(self, caller: Caller | None, attachment_id: str) -> Attachment:
        async with self._sessions() as s:
            att = await s.get(Attachment, attachment_id)
        if att is None or (caller is not None and att.owner != caller.name and not caller.is_admin):
            raise NotFound(f"No attachment with id {attachment_id}.")
        return att

    async def check_attachments(self, caller: Caller, ids: Sequence[str]) -> list[Attachment]:
        atts = []
        for att_id in ids:
            att = await self.get_attachment(caller, att_id)
            if att.owner != caller.name:
                raise NotFound(f"No attachment with id {att_id}.")
            if not att.media_type.startswith("image/"):
                raise BadRequest(f"Attachment {att_id} is not an image.")
            atts.append(att)
        return atts

    # ----- workspaces -----

    async def create_workspace(
        self,
        caller: Caller,
        name: str,
        kind: str,
        path: str,
        config: dict[str, Any] | None = None,
        *,
        status: str = "ready",
        template: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> Workspace:
        ws = Workspace(
            id=new_id(),
            owner=caller.name,
            name=name,
            kind=kind,
            path=path,
            status=status,
            config=config or {},
            template=template,
            parameters=parameters,
            build_log="",
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        async with self._tx() as s:
            s.add(ws)
        return ws

    async def get_workspace(
        self, caller: Caller | None, workspace_id: str, *, include_deleted: bool = False
    ) -> Workspace:
        async with self._sessions() as s:
            ws = await s.get(Workspace, workspace_id)
        if (
            ws is None
            or (ws.status == "deleted" and not include_deleted)
            or (caller is not None and ws.owner != caller.name)
        ):
            raise NotFound(f"No workspace with id {workspace_id}.")
        return ws

    async def update_workspace(self, workspace_id: str, **fields: Any) -> Workspace:
        async with self._tx() as s:
            ws = await s.get(Workspace, workspace_id)
            if ws is None:
                raise NotFound(f"No workspace with id {workspace_id}.")
            for key, value in fields.items():
                setattr(ws, key, value)
            ws.updated_at = utcnow()
        return ws

    async def list_workspaces(self, caller: Caller) -> list[Workspace]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(Workspace)
                .where(Workspace.owner == caller.name, Workspace.status != "deleted")
                .order_by(Workspace.created_at.desc())
            )
            return list(rows.scalars())

    async def delete_workspace(self, caller: Caller, workspace_id: str) -> Workspace:
        async with self._tx() as s:
            ws = await s.get(Workspace, workspace_id)
            if ws is None or ws.owner != caller.name or ws.status == "deleted":
                raise NotFound(f"No workspace with id {workspace_id}.")
            ws.status = "deleted"
            ws.updated_at = utcnow()
        return ws

    async def bind_workspace(
        self, chat_id: str, workspace_id: str, *, replace: bool = False
    ) -> None:
        cond = (
            [Chat.id == chat_id] if replace else [Chat.id == chat_id, Chat.workspace_id.is_(None)]
        )
        async with self._tx() as s:
            await s.execute(update(Chat).where(*cond).values(workspace_id=workspace_id))

    async def default_workspace(self, owner: str, root: str) -> Workspace:
        """The owner's workspace for the Jupyter root folder, created on first use."""
        async with self._tx() as s:
            ws = (
                await s.execute(
                    select(Workspace)
                    .where(
                        Workspace.owner == owner,
                        Workspace.kind == "local",
                        Workspace.path == root,
                        Workspace.status != "deleted",
                    )
                    .limit(1)
                )
            ).scalar_one_or_none()
            if ws is None:
                ws = Workspace(
                    id=new_id(),
                    owner=owner,
                    name="Jupyter root",
                    kind="local",
                    path=root,
                    status="ready",
                    config={},
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                s.add(ws)
        return ws
