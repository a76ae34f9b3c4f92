"""A fake LLM vendor: a real HTTP server speaking the Anthropic and OpenAI wire protocols.

It runs on 127.0.0.1 in its own thread with its own event loop, so sync tests, async tests and
Jupyter servers in subprocesses can all point an official SDK at it. Behaviour is scripted::

    fake = FakeLLM(); base = fake.start()     # Anthropic base_url=base, OpenAI base_url=base+"/v1"
    fake.script("bugfix", [reply(text("I'll write it."), tool_call("write_file", {...})),
                           reply(text("Done."))])

A conversation picks its script by a ``#<name>`` tag in its first user message (else the script
named "default") and advances one entry per model request; each conversation (script + first user
message text) keeps its own cursor. Requests whose last user message contains
``SUMMARY_REQUEST_MARKER`` get ``summary_text`` without moving the cursor; that answer ends with a
``[fake-llm conversation N]`` tag so that a compacted chat, whose context now starts with the
summary, still continues its own script where it was.

Run ``python -m coder_agents_jupyter.testing.fake_provider`` for a standalone server whose
"default" script is ``DEMO_SCRIPT`` (a clearly labelled scripted demo, no AI).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..llm.types import Usage

SUMMARY_REQUEST_MARKER = "<<compact-conversation>>"
DEFAULT_SUMMARY_TEXT = "SUMMARY: the conversation so far, summarised by the fake model."
EXHAUSTED_TEXT = "(script exhausted)"

Protocol = Literal["anthropic", "chat"]

_TAG = re.compile(r"#([A-Za-z0-9_][\w.-]*)")
_CONVERSATION_TAG = re.compile(r"\[fake-llm conversation (\d+)\]")
_RETRY_HEADERS = ("retry-after", "retry-after-ms")


# ----- what a script says -----


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ThinkingPart:
    text: str
    signature: str | None = None


@dataclass(frozen=True)
class ToolCallPart:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


Part = TextPart | ThinkingPart | ToolCallPart


@dataclass(frozen=True)
class Reply:
    """One scripted model answer.

    ``error=(status, body, headers)`` answers an HTTP error instead; ``stream_error`` (a vendor
    error object such as ``{"type": "overloaded_error", "message": "Overloaded"}``) is sent inside
    the stream after the parts. ``stop_reason`` overrides the neutral stop reason
    (end_turn/tool_use/max_tokens/refusal/content_filter).
    """

    parts: tuple[Part, ...] = ()
    usage: Usage | None = None
    delay: float | None = None
    error: tuple[int, Any, dict[str, str]] | None = None
    stop_reason: str | None = None
    stream_error: dict[str, Any] | None = None


@dataclass(frozen=True)
class RawReply:
    """Bytes served as-is (a recorded stream). ``datalines`` files are re-framed per protocol."""

    data: bytes
    datalines: bool = False
    chunk_size: int | None = None
    status: int = 200
    content_type: str = "text/event-stream; charset=utf-8"


ReplyFn = Callable[[dict[str, Any]], Reply]


@dataclass(frozen=True)
class Repeat:
    """A script entry the cursor never moves past: it answers every later request.

    Callable like a reply function, so it also works wherever one is expected.
    """

    entry: Reply | RawReply | ReplyFn

    def __call__(self, request: dict[str, Any]) -> Reply | RawReply:
        entry = self.entry
        return entry if isinstance(entry, Reply | RawReply) else entry(request)


ReplyEntry = Reply | RawReply | Repeat | ReplyFn


def text(value: str) -> TextPart:
    return TextPart(value)


def thinking(value: str, signature: str | None = None) -> ThinkingPart:
    return ThinkingPart(value, signature)


def tool_call(
    name: str,
    arguments: dict[str, Any] | None = None,
    id: str | None = None,  # noqa: A002 - mirrors the wire field
) -> ToolCallPart:
    return ToolCallPart(name, dict(arguments or {}), id)


def reply(
    *parts: Part,
    usage: Usage | None = None,
    delay: float | None = None,
    error: tuple[int, Any] | tuple[int, Any, dict[str, str]] | None = None,
    stop_reason: str | None = None,
    stream_error: dict[str, Any] | None = None,
) -> Reply:
    """A scripted answer made of text, thinking and tool-call parts (in stream order)."""
    err: tuple[int, Any, dict[str, str]] | None = None
    if error is not None:
        err = (int(error[0]), error[1], dict(error[2]) if len(error) > 2 else {})  # type: ignore[misc]
    return Reply(tuple(parts), usage, delay, err, stop_reason, stream_error)


def repeat(entry: Reply | RawReply | ReplyFn) -> Repeat:
    """Answer every remaining request of the conversation with ``entry``."""
    return Repeat(entry)


def raw(source: str | Path | bytes, *, chunk_size: int | None = None) -> RawReply:
    """A recorded response body; ``*.datalines.txt`` holds one SSE data payload per line."""
    if isinstance(source, bytes):
        return RawReply(source, chunk_size=chunk_size)
    path = Path(source)
    return RawReply(path.read_bytes(), path.name.endswith(".datalines.txt"), chunk_size)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    script: str | None
    index: int | None


# ----- the server -----


class FakeLLM:
    """Scripted fake vendor. Thread-safe; ``start()`` returns the base URL."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key  # when set, requests with another key get a vendor-shaped 401
        self.chunk_delay = chunk_delay
        self.summary_text = DEFAULT_SUMMARY_TEXT
        self._lock = threading.RLock()
        self._scripts: dict[str, list[ReplyEntry]] = {}
        self._cursors: dict[tuple[str, str], int] = {}
        self._conversation_ids: dict[tuple[str, str], int] = {}
        self._conversations: dict[int, tuple[str, str]] = {}
        self._replays: deque[RawReply] = deque()
        self._requests: list[RecordedRequest] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    # -- lifecycle --

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def start(self) -> str:
        with self._lock:
            if self._thread is not None:
                return self.base_url
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(ready,), name="fake-llm", daemon=True
            )
            self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake LLM server did not start")
        if self._startup_error is not None:
            self._thread = None
            raise RuntimeError("fake LLM server failed to start") from self._startup_error
        return self.base_url

    def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        loop.call_soon_threadsafe(stopping.set)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeLLM:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --

    def script(self, name: str, replies: Sequence[ReplyEntry] | ReplyFn) -> None:
        """Set script ``name``: a list (one entry per request) or one callable for every request."""
        entries: list[ReplyEntry] = [Repeat(replies)] if callable(replies) else list(replies)
        with self._lock:
            # Cursors survive re-scripting so a resumed conversation continues where it was.
            self._scripts[name] = entries

    def replay(
        self, source: str | Path | bytes | RawReply, *, chunk_size: int | None = None
    ) -> None:
        """Serve a recorded body to the next model request, whatever its conversation."""
        entry = source if isinstance(source, RawReply) else raw(source, chunk_size=chunk_size)
        with self._lock:
            self._replays.append(entry)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, script: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if r.script == script]

    def reset(self) -> None:
        """Forget scripts, cursors, pending replays and recorded requests."""
        with self._lock:
            self._scripts.clear()
            self._cursors.clear()
            self._conversation_ids.clear()
            self._conversations.clear()
            self._replays.clear()
            self._requests.clear()
            self.summary_text = DEFAULT_SUMMARY_TEXT

    def _choose(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply | RawReply:
        """Record the request and decide its answer (callables are called outside the lock)."""
        entry: ReplyEntry | None
        with self._lock:
            if self._replays:
                self._requests.append(RecordedRequest(path, headers, body, None, None))
                return self._replays.popleft()
            key = self._conversation_key(body)
            script = key[0]
            if SUMMARY_REQUEST_MARKER in last_user_text(body):
                self._requests.append(RecordedRequest(path, headers, body, script, None))
                conversation = self._conversation_ids[key]
                return reply(text(f"{self.summary_text}\n\n[fake-llm conversation {conversation}]"))
            index = self._cursors.get(key, 0)
            entries = self._scripts.get(script) or []
            entry = entries[index] if index < len(entries) else None
            if not isinstance(entry, Repeat):
                self._cursors[key] = index + 1
            self._requests.append(RecordedRequest(path, headers, body, script, index))
        if entry is None:
            return reply(text(EXHAUSTED_TEXT))
        if isinstance(entry, Reply | RawReply):
            return entry
        return entry(body)

    def _conversation_key(self, body: dict[str, Any]) -> tuple[str, str]:
        # A summary we wrote earlier names its conversation: keep that script and cursor.
        for match in _CONVERSATION_TAG.finditer(all_user_text(body)):
            known = self._conversations.get(int(match.group(1)))
            if known is not None:
                return known
        first = first_user_text(body)
        script = next((t for t in _TAG.findall(first) if t in self._scripts), "default")
        key = (script, first)
        if key not in self._conversation_ids:
            number = len(self._conversation_ids) + 1
            self._conversation_ids[key] = number
            self._conversations[number] = key
        return key

    # -- event loop thread --

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._startup_error = exc
            ready.set()
        finally:
            loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        connections: set[asyncio.Task[None]] = set()

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._serve_connection(reader, writer)
            finally:
                connections.discard(task)

        server = await asyncio.start_server(on_connection, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stopping.wait()
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                await self._dispatch(request, writer)
                if request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away (e.g. a test stopped reading mid-stream)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    async def _dispatch(self, request: _HttpRequest, writer: asyncio.StreamWriter) -> None:
        path = request.path
        protocol: Protocol | None = None
        if path.endswith("/messages"):
            protocol = "anthropic"
        elif path.endswith("/chat/completions"):
            protocol = "chat"
        if request.method == "GET" and path.rstrip("/").endswith("/models"):
            with self._lock:
                self._requests.append(RecordedRequest(path, request.headers, None, None, None))
                names = list(self._scripts)
            await _send_json(
                writer, 200, _models_body(names, "anthropic-version" in request.headers)
            )
            return
        if request.method != "POST" or protocol is None:
            await _send_json(
                writer, 404, {"error": {"message": f"no route {request.method} {path}"}}
            )
            return
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            await _send_json(
                writer, 400, _error_body(protocol, 400, "request body is not a JSON object")
            )
            return
        if self.api_key is not None and _presented_key(request.headers) != self.api_key:
            with self._lock:
                self._requests.append(RecordedRequest(path, request.headers, body, None, None))
            await _send_json(writer, 401, _error_body(protocol, 401, "invalid API key"))
            return
        try:
            answer = await asyncio.get_running_loop().run_in_executor(
                None, self._choose, path, request.headers, body
            )
        except Exception as exc:  # noqa: BLE001 - a broken reply function must not hang a test
            message = f"fake LLM: the scripted reply function failed: {exc!r}"
            error = _error_body(protocol, 500, message)
            await _send_json(writer, 500, error, {"x-should-retry": "false"})
            return
        if isinstance(answer, RawReply):
            await _send_raw(writer, protocol, answer)
        elif answer.error is not None:
            status, error_body, headers = answer.error
            await _send_json(writer, status, error_body, _error_headers(status, headers))
        elif not body.get("stream"):
            encode = _anthropic_message if protocol == "anthropic" else _chat_completion
            await _send_json(writer, 200, encode(answer, body))
        else:
            frames = (
                _anthropic_stream(answer, body)
                if protocol == "anthropic"
                else _chat_stream(answer, body)
            )
            delay = answer.delay if answer.delay is not None else self.chunk_delay
            await _send_stream(writer, frames, delay)


# ----- request helpers shared by the server and DEMO_SCRIPT -----


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _user_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    # Both protocols call it role "user" (Anthropic tool results live there too).
    return [
        m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"
    ]


def first_user_text(body: dict[str, Any]) -> str:
    """The first text of the first user message: stable even when later turns merge into it."""
    users = _user_messages(body)
    if not users:
        return ""
    content = users[0].get("content")
    if isinstance(content, list):
        texts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        return texts[0] if texts else ""
    return _content_text(content)


def last_user_text(body: dict[str, Any]) -> str:
    users = _user_messages(body)
    return _content_text(users[-1].get("content")) if users else ""


def all_user_text(body: dict[str, Any]) -> str:
    return "\n".join(_content_text(m.get("content")) for m in _user_messages(body))


def last_prompt(body: dict[str, Any]) -> str:
    """The text of the newest user message that has text (not just tool results)."""
    for message in reversed(_user_messages(body)):
        found = _content_text(message.get("content"))
        if found.strip():
            return found
    return ""


def turn_tool_results(body: dict[str, Any]) -> list[str]:
    """The tool results sent since the last user prompt (text), in order, for either protocol."""
    results: list[str] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if role == "tool":
            results.append(_content_text(content))
        elif role == "user":
            blocks = content if isinstance(content, list) else []
            found = [
                _content_text(b.get("content"))
                for b in blocks
                if isinstance(b, dict) and b.get("type") == "tool_result"
            ]
            if _content_text(content).strip():
                results = []  # a new prompt starts a new turn
            results.extend(found)
    return results


# ----- encoding scripted replies -----


def _chunks(value: str, size: int = 12) -> list[str]:
    """Split text at word boundaries into several small deltas so streaming is visible."""
    pieces: list[str] = []
    current = ""
    for token in re.findall(r"\S+\s*|\s+", value):
        current += token
        if len(current) >= size:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def _fragments(arguments: dict[str, Any], size: int = 16) -> list[str]:
    encoded = json.dumps(arguments)
    return [encoded[i : i + size] for i in range(0, len(encoded), size)]


def _fake_signature(value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return base64.b64encode(f"fake-signature:{digest}".encode()).decode()


def _usage_of(answer: Reply, body: dict[str, Any]) -> Usage:
    if answer.usage is not None:
        return answer.usage
    produced = sum(
        len(p.text) if isinstance(p, TextPart | ThinkingPart) else len(json.dumps(p.arguments))
        for p in answer.parts
    )
    return Usage(
        input_tokens=len(json.dumps(body.get("messages") or [])) // 4,
        output_tokens=max(1, produced // 4),
    )


def _stop_reason(answer: Reply, protocol: Protocol) -> str:
    neutral = answer.stop_reason or (
        "tool_use" if any(isinstance(p, ToolCallPart) for p in answer.parts) else "end_turn"
    )
    if protocol == "anthropic":
        return neutral if neutral != "content_filter" else "refusal"
    return {
        "end_turn": "stop",
        "tool_use": "tool_calls",
        "max_tokens": "length",
        "content_filter": "content_filter",
        "refusal": "stop",
    }.get(neutral, "stop")


def _call_id(part: ToolCallPart, protocol: Protocol) -> str:
    if part.id:
        return part.id
    return ("toolu_fake" if protocol == "anthropic" else "call_fake") + uuid.uuid4().hex[:20]


def _anthropic_usage(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    }


def _anthropic_stream(answer: Reply, body: dict[str, Any]) -> Iterator[bytes]:
    usage = _usage_of(answer, body)
    start_usage = {**_anthropic_usage(usage), "output_tokens": 1}
    message = {
        "id": f"msg_fake{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake"),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    yield _sse({"type": "message_start", "message": message}, event=True)
    yield _sse({"type": "ping"}, event=True)
    index = 0
    for part in answer.parts:
        if isinstance(part, TextPart):
            if not part.text:
                continue
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": c} for c in _chunks(part.text)]
        elif isinstance(part, ThinkingPart):
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(part.text)]
            signature = part.signature or _fake_signature(part.text)
            deltas.append({"type": "signature_delta", "signature": signature})
        else:
            start = {
                "type": "tool_use",
                "id": _call_id(part, "anthropic"),
                "name": part.name,
                "input": {},
            }
            fragments = [""] + _fragments(part.arguments)  # the real API starts with ""
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
        yield _sse({"type": "content_block_start", "index": index, "content_block": start}, True)
        for delta in deltas:
            yield _sse({"type": "content_block_delta", "index": index, "delta": delta}, True)
        yield _sse({"type": "content_block_stop", "index": index}, True)
        index += 1
    if answer.stream_error is not None:
        yield _sse({"type": "error", "error": answer.stream_error}, True)
        return
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(answer, "anthropic"), "stop_sequence": None},
            "usage": _anthropic_usage(usage),
        },
        True,
    )
    yield _sse({"type": "message_stop"}, True)


def _anthropic_message(answer: Reply, body: dict[str, Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in answer.parts:
        if isinstance(part, TextPart) and part.text:
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ThinkingPart):
            signature = part.signature or _fake_signature(part.text)
            content.append({"type": "thinking", "thinking": part.text, "signature": signature})
        elif isinstance(part, ToolCallPart):
            content.append(
                {
                    "type": "tool_use",
                    "id": _call_id(part, "anthropic"),
                    "name": part.name,
                    "input": part.arguments,
                }
            )
    return {
        "id": f"msg_fake{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake"),
        "content": content,
        "stop_reason": _stop_reason(answer, "anthropic"),
        "stop_sequence": None,
        "usage": _anthropic_usage(_usage_of(answer, body)),
    }


def _chat_usage(usage: Usage) -> dict[str, Any]:
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _chat_stream(answer: Reply, body: dict[str, Any]) -> Iterator[bytes]:
    base = {
        "id": f"chatcmpl-fake{uuid.uuid4().hex[:20]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**base, "choices": [choice]})

    starts_with_call = bool(answer.parts) and isinstance(answer.parts[0], ToolCallPart)
    yield chunk({"role": "assistant", "content": None if starts_with_call else ""})
    call_index = 0
    for part in answer.parts:
        if isinstance(part, TextPart):
            for piece in _chunks(part.text):
                yield chunk({"content": piece})
        elif isinstance(part, ThinkingPart):
            for piece in _chunks(part.text):
                yield chunk({"reasoning_content": piece})
        else:
            first = {
                "index": call_index,
                "id": _call_id(part, "chat"),
                "type": "function",
                "function": {"name": part.name, "arguments": ""},
            }
            yield chunk({"tool_calls": [first]})
            for fragment in _fragments(part.arguments):
                yield chunk(
                    {"tool_calls": [{"index": call_index, "function": {"arguments": fragment}}]}
                )
            call_index += 1
    if answer.stream_error is not None:
        yield _sse({**base, "choices": [], "error": answer.stream_error})
        yield b"data: [DONE]\n\n"
        return
    yield chunk({}, _stop_reason(answer, "chat"))
    if (body.get("stream_options") or {}).get("include_usage"):
        yield _sse({**base, "choices": [], "usage": _chat_usage(_usage_of(answer, body))})
    yield b"data: [DONE]\n\n"


def _chat_completion(answer: Reply, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    texts = [p.text for p in answer.parts if isinstance(p, TextPart)]
    reasoning = [p.text for p in answer.parts if isinstance(p, ThinkingPart)]
    calls = [p for p in answer.parts if isinstance(p, ToolCallPart)]
    if texts:
        message["content"] = "".join(texts)
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [
            {
                "id": _call_id(p, "chat"),
                "type": "function",
                "function": {"name": p.name, "arguments": json.dumps(p.arguments)},
            }
            for p in calls
        ]
    return {
        "id": f"chatcmpl-fake{uuid.uuid4().hex[:20]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": _stop_reason(answer, "chat")}
        ],
        "usage": _chat_usage(_usage_of(answer, body)),
    }


def _sse(data: dict[str, Any], event: bool = False) -> bytes:
    payload = json.dumps(data, separators=(",", ":"))
    head = f"event: {data['type']}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _error_body(protocol: Protocol, status: int, message: str) -> dict[str, Any]:
    if protocol == "anthropic":
        kind = {400: "invalid_request_error", 401: "authentication_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    code = {401: "invalid_api_key"}.get(status)
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _error_headers(status: int, headers: dict[str, str]) -> dict[str, str]:
    lowered = {k.lower(): v for k, v in headers.items()}
    retryable = status in (408, 409, 429) or status >= 500
    if retryable and not any(h in lowered for h in _RETRY_HEADERS):
        # The SDKs retry these after 0.5-8 s unless told otherwise; keep tests fast.
        lowered["retry-after-ms"] = "1"
    return lowered


def _presented_key(headers: dict[str, str]) -> str | None:
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


def _models_body(names: list[str], anthropic_shape: bool) -> dict[str, Any]:
    if anthropic_shape:
        data = [
            {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"}
            for n in names
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "fake-llm"} for n in names],
    }


def _raw_frames(answer: RawReply, protocol: Protocol) -> list[bytes]:
    if answer.datalines:
        frames = []
        for line in answer.data.decode().splitlines():
            if not line.strip():
                continue
            if protocol == "anthropic":
                event = json.loads(line).get("type", "message")
                frames.append(f"event: {event}\ndata: {line}\n\n".encode())
            else:
                frames.append(f"data: {line}\n\n".encode())
        if protocol == "chat":
            frames.append(b"data: [DONE]\n\n")
        data = b"".join(frames)
    else:
        data = answer.data
    if answer.chunk_size:
        return [data[i : i + answer.chunk_size] for i in range(0, len(data), answer.chunk_size)]
    # One write per SSE frame, as a vendor flushes per event.
    return [frame for frame in re.split(rb"(?<=\n\n)", data) if frame]


# ----- minimal HTTP/1.1 -----


@dataclass
class _HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


async def _read_request(reader: asyncio.StreamReader) -> _HttpRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = b""
    return _HttpRequest(method, target.split("?", 1)[0], headers, body)


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = {529: "Overloaded"}.get(status, "Error")
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return _status_line(status) + lines.encode("latin-1") + b"\r\n"


async def _send_json(
    writer: asyncio.StreamWriter, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    all_headers = {
        "content-type": "application/json",
        "request-id": f"req_fake{uuid.uuid4().hex[:20]}",
        **(headers or {}),
        "content-length": str(len(payload)),
    }
    writer.write(_head(status, all_headers) + payload)
    await writer.drain()


async def _start_stream(writer: asyncio.StreamWriter, status: int, content_type: str) -> None:
    headers = {
        "content-type": content_type,
        "cache-control": "no-cache",
        "transfer-encoding": "chunked",
        "request-id": f"req_fake{uuid.uuid4().hex[:20]}",
    }
    writer.write(_head(status, headers))
    await writer.drain()


async def _send_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


async def _send_stream(writer: asyncio.StreamWriter, frames: Iterator[bytes], delay: float) -> None:
    await _start_stream(writer, 200, "text/event-stream; charset=utf-8")
    for i, frame in enumerate(frames):
        if delay and i:
            await asyncio.sleep(delay)
        await _send_chunk(writer, frame)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _send_raw(writer: asyncio.StreamWriter, protocol: Protocol, answer: RawReply) -> None:
    await _start_stream(writer, answer.status, answer.content_type)
    for piece in _raw_frames(answer, protocol):
        await _send_chunk(writer, piece)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


# ----- the demo model -----


def demo_reply(request: dict[str, Any]) -> Reply:
    """A clearly labelled scripted demo, driven by how many tool results this turn has."""
    results = turn_tool_results(request)
    prompt = " ".join(last_prompt(request).split())
    if len(prompt) > 80:
        prompt = prompt[:77] + "..."
    if not results:
        return reply(
            thinking("Scripted demo: always start by listing the workspace."),
            text(
                "This is the demo model: scripted, no AI. "
                f'You asked: "{prompt}". I will look at the workspace first.'
            ),
            tool_call("execute", {"command": "ls -la"}),
        )
    if len(results) == 1:
        listing = results[0].strip().splitlines()
        shown = "\n".join(listing[:30]) + ("\n..." if len(listing) > 30 else "")
        content = (
            "# DEMO\n\n"
            "Written by the demo model (scripted, no AI) of coder-agents-jupyter.\n\n"
            f'Prompt: "{prompt}"\n\n'
            f"`ls -la` printed {len(listing)} lines:\n\n```\n{shown}\n```\n"
        )
        return reply(
            text("This is the demo model: scripted, no AI. Now I will write DEMO.md."),
            tool_call("write_file", {"path": "DEMO.md", "content": content}),
        )
    return reply(
        text(
            "This is the demo model: scripted, no AI. I listed the workspace with `ls -la` "
            "and wrote `DEMO.md` describing what I saw. Configure a real model to get real answers."
        )
    )


# A repeating entry: works as ``script("default", DEMO_SCRIPT)`` and as ``[DEMO_SCRIPT]``.
DEMO_SCRIPT = Repeat(demo_reply)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the demo model until interrupted (``--port 0`` picks a free port)."""
    parser = argparse.ArgumentParser(description="fake LLM vendor serving the scripted demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    fake = FakeLLM(host=args.host, port=args.port)
    fake.script("default", DEMO_SCRIPT)
    base = fake.start()
    print(f"fake LLM: Anthropic base_url={base}  OpenAI base_url={base}/v1", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
