"""The provider seam: one method, provider-neutral types in and out.

A provider streams one model call. It yields ``TextDelta``/``ReasoningDelta``/``ToolCallStarted``
as they arrive and ends with exactly one ``StreamDone`` carrying the assembled assistant message.
Every failure of the vendor SDK is raised as ``ProviderError`` (see ``errors.py``), translated in
one place per wire protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from .types import ModelRequest, StreamEvent


class Provider(Protocol):
    """One configured endpoint + credentials (``c.CoderAgents.providers[i]``)."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Stream one model call; the last event is ``StreamDone``."""
        ...

    async def aclose(self) -> None:
        """Release HTTP connections."""
        ...
