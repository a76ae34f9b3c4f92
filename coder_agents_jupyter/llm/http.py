"""The HTTP clients of the vendor SDKs, and knowing when a model request has left.

Work that need not come before a model call (writing down the last step) can be done while
the vendor works on it: inside ``after_request_sent(callback)``, ``callback`` is scheduled on
the event loop once a request's body has been written to its connection. The clients made here
carry an httpx request hook that attaches httpcore's ``trace`` extension to requests made in
such a block; other requests are untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import anthropic
import httpx2
import openai

_ON_SENT: ContextVar[Callable[[], None] | None] = ContextVar("on_request_sent", default=None)
_BODY_SENT = "send_request_body.complete"  # httpcore's trace event (http11. or http2.)


@contextlib.contextmanager
def after_request_sent(callback: Callable[[], None]) -> Iterator[None]:
    """Schedule ``callback`` each time a request made in this block has been sent."""
    token = _ON_SENT.set(callback)
    try:
        yield
    finally:
        _ON_SENT.reset(token)


async def _attach_trace(request: httpx2.Request) -> None:
    callback = _ON_SENT.get()
    if callback is None:
        return
    loop = asyncio.get_running_loop()

    async def trace(event: str, _info: dict[str, Any]) -> None:
        if event.endswith(_BODY_SENT):
            loop.call_soon(callback)

    request.extensions["trace"] = trace


def anthropic_http_client() -> httpx2.AsyncClient:
    """The ``anthropic`` SDK's default client (its timeouts, limits and keep-alive)."""
    return anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [_attach_trace]})


def openai_http_client() -> httpx2.AsyncClient:
    """The ``openai`` SDK's default client (its timeouts, limits and keep-alive)."""
    return openai.DefaultAsyncHttpxClient(event_hooks={"request": [_attach_trace]})
