"""Test helpers that stand in for the outside world: a fake LLM vendor speaking the real wire
protocols (``fake_provider``) and pytest fixtures for it (``pytest_plugin``).

Names are loaded on first use so that ``python -m coder_agents_jupyter.testing.fake_provider``
does not import its own module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fake_provider import (
        DEMO_SCRIPT,
        EXHAUSTED_TEXT,
        SUMMARY_REQUEST_MARKER,
        FakeLLM,
        Fault,
        RawReply,
        RecordedRequest,
        Repeat,
        Reply,
        disconnect_after,
        http_error,
        malformed_event,
        raw,
        repeat,
        reply,
        stall,
        text,
        thinking,
        tool_call,
        web_search,
    )

__all__ = [
    "DEMO_SCRIPT",
    "EXHAUSTED_TEXT",
    "SUMMARY_REQUEST_MARKER",
    "FakeLLM",
    "Fault",
    "RawReply",
    "RecordedRequest",
    "Repeat",
    "Reply",
    "disconnect_after",
    "http_error",
    "malformed_event",
    "raw",
    "repeat",
    "reply",
    "stall",
    "text",
    "thinking",
    "tool_call",
    "web_search",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".fake_provider", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
