"""Tables. Every row that belongs to someone carries ``owner`` (Jupyter's username)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Chat(Base):
    __tablename__ = "chats"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    model: Mapped[str] = mapped_column(String(200))
    workspace_id: Mapped[str | None] = mapped_column(String(36), default=None)
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    root_id: Mapped[str | None] = mapped_column(String(36), default=None)
    agent_type: Mapped[str | None] = mapped_column(String(20), default=None)
    """A sub-agent's kind: ``general`` or ``explore`` (read-only); None for a root chat."""
    forked_from: Mapped[str | None] = mapped_column(String(36), default=None)
    plan_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    reasoning_effort: Mapped[str | None] = mapped_column(String(20), default=None)
    owner_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    awaiting: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """What the chat waits for from its user: ``{"kind": ..., ...}`` with kind ``plan``,
    ``question``, ``approval`` or ``client_tool`` (a tool the user's client runs)."""
    tool_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The user's own tightening of the admin's tool policy for this chat (and grants)."""
    kernel: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The user's consent to use a live notebook kernel: ``{"notebook": path}``, or None."""
    """The owner as Jupyter knew them when they last wrote: display name, email, groups."""
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    worker_id: Mapped[str | None] = mapped_column(String(200), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    stop_requested: Mapped[str | None] = mapped_column(String(20), default=None)
    """Set by the API for the owning worker: ``stop`` (pause) or ``send_now`` (resume the queue)."""
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("chat_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[list[Any]] = mapped_column(JSON)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    is_summary: Mapped[bool] = mapped_column(Boolean, default=False)
    summary_through_seq: Mapped[int | None] = mapped_column(Integer, default=None)
    """For a summary: the last message it replaces in the model's context."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueuedMessage(Base):
    __tablename__ = "queued_messages"
    __table_args__ = (Index("ix_queued_chat_position", "chat_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    chat_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="ready")
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    template: Mapped[str | None] = mapped_column(String(200), default=None)
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    build_log: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FileChange(Base):
    """One write of one file by an agent's tool (or by a revert), for change review.

    Content is kept up to a bound; a larger or binary side keeps only its size and sha256
    (``binary_or_large``). ``before``/``after`` are None when not kept *or* when the file did
    not exist, which ``before_exists``/``after_exists`` tell apart.
    """

    __tablename__ = "file_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(36), index=True)
    root_id: Mapped[str] = mapped_column(String(36), index=True)
    """The root of the chat's tree (the chat itself for a root chat)."""
    workspace_id: Mapped[str | None] = mapped_column(String(36), default=None)
    path: Mapped[str] = mapped_column(Text)
    """Relative to the workspace root when inside it, else absolute."""
    seq: Mapped[int] = mapped_column(BigInteger)
    """Order of the changes of one chat tree."""
    before: Mapped[str | None] = mapped_column(Text, default=None)
    after: Mapped[str | None] = mapped_column(Text, default=None)
    before_exists: Mapped[bool] = mapped_column(Boolean, default=False)
    after_exists: Mapped[bool] = mapped_column(Boolean, default=False)
    binary_or_large: Mapped[bool] = mapped_column(Boolean, default=False)
    before_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    after_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    before_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    after_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def message_json(row: Message) -> dict[str, Any]:
    """A stored message as the API (and its ``message_end`` event) shows it."""
    return {
        "id": row.id,
        "seq": row.seq,
        "role": row.role,
        "content": row.content,
        "usage": row.usage,
        "model": row.model,
        "is_summary": row.is_summary,
        "created_at": row.created_at.isoformat(),
    }
