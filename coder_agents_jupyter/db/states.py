"""Chat statuses and the one table of allowed transitions.

Every status change goes through ``Store.transition``, which refuses anything not listed here,
so a racing request (stop vs. finish, retry vs. claim) can never leave a chat in a state the
lifecycle does not know.
"""

from __future__ import annotations

from enum import StrEnum


class ChatStatus(StrEnum):
    PENDING = "pending"
    """Has work to do (a new user message or a resumed turn); waits for a worker to claim it."""
    RUNNING = "running"
    """A worker owns it (``worker_id``, fresh ``heartbeat_at``) and is running its turn."""
    WAITING = "waiting"
    """The turn is done; waiting for the user."""
    REQUIRES_ACTION = "requires_action"
    """The turn is blocked on the user (a tool approval, or a tool their own kernel must run)."""
    PAUSED = "paused"
    """Stopped by the user; partial output kept. A new message or retry resumes it."""
    ERROR = "error"
    """The turn failed with a readable reason (``chats.error``); the user can retry."""
    COMPLETED = "completed"
    """A sub-agent that delivered its result, or a closed chat."""


S = ChatStatus

TRANSITIONS: dict[ChatStatus, frozenset[ChatStatus]] = {
    S.PENDING: frozenset({S.RUNNING, S.PAUSED, S.ERROR}),
    S.RUNNING: frozenset(
        {S.WAITING, S.PAUSED, S.ERROR, S.REQUIRES_ACTION, S.COMPLETED, S.PENDING}
    ),  # -> pending: released by a stopping server or recovered from a dead one
    S.WAITING: frozenset({S.PENDING, S.COMPLETED}),
    S.REQUIRES_ACTION: frozenset({S.RUNNING, S.PENDING, S.PAUSED, S.ERROR}),
    S.PAUSED: frozenset({S.PENDING, S.COMPLETED}),
    S.ERROR: frozenset({S.PENDING, S.COMPLETED}),
    S.COMPLETED: frozenset({S.PENDING}),  # a finished sub-agent can be messaged again
}

ACTIVE = frozenset({S.PENDING, S.RUNNING, S.REQUIRES_ACTION})
"""Statuses in which a new user message is queued instead of starting a turn."""


def allowed_from(target: ChatStatus) -> frozenset[ChatStatus]:
    """Statuses from which ``target`` may be entered."""
    return frozenset(src for src, dsts in TRANSITIONS.items() if target in dsts)
