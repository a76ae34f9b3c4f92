"""Bodies of the change-review endpoints and their OpenAPI operations.

Kept apart from ``changes.py`` (the handlers) so that ``openapi.py`` can import them without
importing the handlers, which import ``openapi.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RevertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(min_length=1, max_length=1000)
    """Paths as ``GET chats/{id}/diff`` names them."""
    workspace_id: str | None = None
    """Only that workspace's files of these names (when the chat wrote to several)."""


class FileDiffOut(BaseModel):
    path: str
    workspace_id: str | None
    status: Literal["added", "modified", "deleted"]
    diff: str
    """Unified diff (``a/`` ``b/`` headers, ``/dev/null`` for a new or deleted file)."""
    binary: bool
    """The content of a side was not kept (binary, or too large); ``diff`` says so."""
    additions: int
    deletions: int
    before_size: int | None
    after_size: int | None


class ChatDiff(BaseModel):
    files: list[FileDiffOut]


class RevertOut(BaseModel):
    reverted: list[str]


OPERATIONS: list[
    tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, int, bool]
] = [
    (
        "get",
        "/chats/{chat_id}/diff",
        "Net unified diff of every file the chat and its sub-agents wrote",
        None,
        ChatDiff,
        200,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/revert",
        "Restore files as they were before the chat wrote them (409 if changed since)",
        RevertRequest,
        RevertOut,
        200,
        False,
    ),
]
