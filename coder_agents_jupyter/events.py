"""Live chat events and the in-memory bus that carries them to subscribers.

Events are typed (``ChatEvent``); the bus stamps each with ``chat_id`` and a per-chat ``seq``
that only grows (its base is the wall clock in ms x 1000 when this process first saw the chat,
so numbers keep growing across restarts). Each chat keeps a bounded replay buffer so a client
reconnecting with ``after_seq`` misses nothing of the current turn. Deltas live only here: the
database gets whole messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

log = logging.getLogger(__name__)

REPLAY_EVENTS = 20_000
SUBSCRIBER_BACKLOG = 50_000


class _Event(BaseModel):
    seq: int = 0
    chat_id: str = ""


class StatusEvent(_Event):
    type: Literal["status"] = "status"
    status: str
    error: dict[str, Any] | None = None


class MessageStartEvent(_Event):
    type: Literal["message_start"] = "message_start"
    role: str


class TextDeltaEvent(_Event):
    type: Literal["text_delta"] = "text_delta"
    text: str


class ReasoningDeltaEvent(_Event):
    type: Literal["reasoning_delta"] = "reasoning_delta"
    text: str


class ToolCallEvent(_Event):
    """A tool call the model made; ``state`` is ``started`` while its arguments stream."""

    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    input: dict[str, Any] | None = None
    state: Literal["started", "running"] = "running"


class ToolProgressEvent(_Event):
    """A line of progress from a running tool (e.g. a workspace's build log)."""

    type: Literal["tool_progress"] = "tool_progress"
    tool_call_id: str
    text: str


class ToolResultEvent(_Event):
    type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    content: str
    is_error: bool
    display: dict[str, Any] | None = None


class MessageEndEvent(_Event):
    """A message was saved; ``message`` is what ``GET messages`` returns for it."""

    type: Literal["message_end"] = "message_end"
    message: dict[str, Any]


class QueueEvent(_Event):
    type: Literal["queue"] = "queue"
    queue: list[dict[str, Any]]


class UsageEvent(_Event):
    type: Literal["usage"] = "usage"
    usage: dict[str, Any]
    context_tokens: int
    context_window: int


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    error: dict[str, Any]


class RetryEvent(_Event):
    type: Literal["retry"] = "retry"
    attempt: int
    delay_seconds: float
    reason: str


class PlanEvent(_Event):
    """The agent proposed a plan; the chat waits for approve or revise."""

    type: Literal["plan"] = "plan"
    tool_call_id: str
    plan: str
    path: str


class QuestionEvent(_Event):
    """The agent asked the user; the chat waits for ``POST answers``."""

    type: Literal["question"] = "question"
    question_id: str
    questions: list[dict[str, Any]]


class ApprovalEvent(_Event):
    """A tool call waits for a person's approval (the chat is ``requires_action``)."""

    type: Literal["approval"] = "approval"
    tool_call_id: str
    name: str
    input: dict[str, Any]


class ClientToolEvent(_Event):
    """A tool call the user's own client must run (the live kernel of ``notebook``); the chat
    is ``requires_action`` until ``POST tool-results`` delivered its result."""

    type: Literal["client_tool"] = "client_tool"
    tool_call_id: str
    name: str
    input: dict[str, Any]
    notebook: str


class NoticeEvent(_Event):
    """Something users should know that is not an error (e.g. the model was switched)."""

    type: Literal["notice"] = "notice"
    message: str


class ChildEvent(_Event):
    type: Literal["child"] = "child"
    child_id: str
    status: str


ChatEvent = (
    StatusEvent
    | MessageStartEvent
    | TextDeltaEvent
    | ReasoningDeltaEvent
    | ToolCallEvent
    | ToolProgressEvent
    | ToolResultEvent
    | MessageEndEvent
    | QueueEvent
    | UsageEvent
    | ErrorEvent
    | RetryEvent
    | PlanEvent
    | QuestionEvent
    | ApprovalEvent
    | ClientToolEvent
    | NoticeEvent
    | ChildEvent
)


@dataclass
class _Channel:
    next_seq: int
    buffer: deque[ChatEvent] = field(default_factory=lambda: deque(maxlen=REPLAY_EVENTS))
    subscribers: set[asyncio.Queue[ChatEvent]] = field(default_factory=set)
    changed: asyncio.Event | None = None
    """Set by the next event; made only when someone waits for it (``wait_for_change``)."""


class EventBus:
    """Publishes chat events to in-process subscribers; wakes the worker on new work."""

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self.work_available = asyncio.Event()

    def _channel(self, chat_id: str) -> _Channel:
        ch = self._channels.get(chat_id)
        if ch is None:
            ch = self._channels[chat_id] = _Channel(next_seq=int(time.time() * 1000) * 1000)
        return ch

    def publish(self, chat_id: str, event: ChatEvent) -> ChatEvent:
        ch = self._channel(chat_id)
        ch.next_seq += 1
        event.seq = ch.next_seq
        event.chat_id = chat_id
        ch.buffer.append(event)
        if ch.changed is not None:
            ch.changed.set()
            ch.changed = None
        for q in list(ch.subscribers):
            if q.qsize() >= SUBSCRIBER_BACKLOG:  # a reader that stopped reading: cut it loose
                ch.subscribers.discard(q)
                log.warning("dropping a stalled event subscriber of chat %s", chat_id)
                continue
            q.put_nowait(event)
        return event

    def subscribe(
        self, chat_id: str, after_seq: int | None = None
    ) -> tuple[list[ChatEvent], asyncio.Queue[ChatEvent]]:
        """Events after ``after_seq`` still in the replay buffer, and a queue of new ones."""
        ch = self._channel(chat_id)
        missed: Iterable[ChatEvent] = ()
        if after_seq is not None:
            missed = [e for e in ch.buffer if e.seq > after_seq]
        q: asyncio.Queue[ChatEvent] = asyncio.Queue()
        ch.subscribers.add(q)
        return list(missed), q

    def unsubscribe(self, chat_id: str, q: asyncio.Queue[ChatEvent]) -> None:
        ch = self._channels.get(chat_id)
        if ch is not None:
            ch.subscribers.discard(q)

    def last_seq(self, chat_id: str) -> int:
        return self._channel(chat_id).next_seq

    async def wait_for_change(self, chat_id: str, timeout: float) -> None:
        """Until the next event of this chat, or ``timeout`` (callers re-check the database:
        another process may have made the change)."""
        ch = self._channel(chat_id)
        if ch.changed is None:
            ch.changed = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ch.changed.wait(), timeout)

    def wake_worker(self) -> None:
        self.work_available.set()
