"""A fake LLM vendor: a real HTTP server speaking the Anthropic, OpenAI and Bedrock protocols.

Routes: Anthropic ``POST /v1/messages``; OpenAI Chat Completions ``POST /v1/chat/completions``;
OpenAI Responses ``POST /v1/responses``; and Azure OpenAI's shapes of the OpenAI two, the v1 form
(``/openai/v1/chat/completions``, ``/openai/v1/responses``) and the classic one
(``/openai/deployments/{deployment}/chat/completions?api-version=...``, ``/openai/responses?...``,
``/openai/deployments/{deployment}/responses?...``); AWS Bedrock's ``POST /model/{model}/invoke``
and ``/model/{model}/invoke-with-response-stream`` (the model comes from the path, the stream in
AWS event-stream frames; the recorded body is the one sent, without ``model``). Keys are read from
``x-api-key``, ``api-key`` (Azure) or ``Authorization: Bearer``; a SigV4-signed request presents
its access key id (signatures are not checked). Each ``RecordedRequest`` says which protocol it
spoke, its path and its query.

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

Parts: ``text`` (optionally citing URLs), ``thinking``, ``tool_call`` and ``web_search`` (a
provider-native search: Anthropic server-tool blocks, a Responses ``web_search_call`` item).

Faults (``reply(..., fault=...)``) script how one answer breaks, the same way for every protocol
because they act on the encoded frames (one SSE ``event:``/``data:`` block, or one Bedrock
event-stream message)::

    reply(fault=http_error(429, retry_after=2))   # vendor error body, exactly these headers
    reply(text("hi"), fault=disconnect_after(3))   # 3 frames, then FIN before the body ends
    reply(text("hi"), fault=malformed_event(2))    # frame 2 (pings skipped) has broken JSON
    reply(text("hi"), fault=stall(30, after=1))    # 1 frame, 30 s of silence, then the rest

Unlike ``error=``, ``http_error`` adds no ``retry-after-ms`` header, so a client's own backoff
shows. The Anthropic writer sends ``message_start`` and ``ping`` before the first content frame;
Chat Completions starts with a role-only chunk. Neither yields text until frame 3 / frame 1.

Run ``python -m coder_agents_jupyter.testing.fake_provider`` for a standalone server whose
"default" script is ``DEMO_SCRIPT`` (a clearly labelled scripted demo, no AI).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http
import json
import re
import threading
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..llm.types import Usage
from .fake_wire import (
    BEDROCK_HTTP_ERRORS,
    EVENTSTREAM_CONTENT_TYPE,
    Part,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    WebSearchPart,
    anthropic_message,
    anthropic_stream,
    bedrock_chunk,
    bedrock_frames,
    chat_completion,
    chat_stream,
    decode_eventstream,
    eventstream_message,
    responses_object,
    responses_stream,
    sse_payloads,
)

SUMMARY_REQUEST_MARKER = "<<compact-conversation>>"
DEFAULT_SUMMARY_TEXT = "SUMMARY: the conversation so far, summarised by the fake model."
EXHAUSTED_TEXT = "(script exhausted)"

Protocol = Literal["anthropic", "chat", "responses", "bedrock"]

_TAG = re.compile(r"#([A-Za-z0-9_][\w.-]*)")
_CONVERSATION_TAG = re.compile(r"\[fake-llm conversation (\d+)\]")
_RETRY_HEADERS = ("retry-after", "retry-after-ms")
_BEDROCK_PATH = re.compile(r".*/model/([^/]+)/(invoke|invoke-with-response-stream)")


# ----- what a script says -----


FaultKind = Literal["http_error", "disconnect", "malformed", "stall"]


@dataclass(frozen=True)
class Fault:
    """How one scripted answer breaks; build it with ``http_error``, ``disconnect_after``,
    ``malformed_event`` or ``stall``. ``after`` counts SSE frames sent intact first."""

    kind: FaultKind
    after: int = 0
    seconds: float = 0.0
    status: int = 0
    message: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Reply:
    """One scripted model answer.

    ``error=(status, body, headers)`` answers an HTTP error instead; ``stream_error`` (a vendor
    error object such as ``{"type": "overloaded_error", "message": "Overloaded"}``) is sent inside
    the stream after the parts. ``stop_reason`` overrides the neutral stop reason
    (end_turn/tool_use/max_tokens/refusal/content_filter). ``fault`` breaks the answer on purpose
    (see the module docstring).
    """

    parts: tuple[Part, ...] = ()
    usage: Usage | None = None
    delay: float | None = None
    error: tuple[int, Any, dict[str, str]] | None = None
    stop_reason: str | None = None
    stream_error: dict[str, Any] | None = None
    fault: Fault | None = None


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


def text(value: str, *, cite: Sequence[str] = ()) -> TextPart:
    """Answer text; ``cite`` lists URLs (of this answer's ``web_search`` parts) it cites."""
    return TextPart(value, tuple(cite))


def thinking(value: str, signature: str | None = None) -> ThinkingPart:
    return ThinkingPart(value, signature)


def tool_call(
    name: str,
    arguments: dict[str, Any] | None = None,
    id: str | None = None,  # noqa: A002 - mirrors the wire field
) -> ToolCallPart:
    return ToolCallPart(name, dict(arguments or {}), id)


def web_search(
    query: str,
    results: Sequence[tuple[str, str]] = (),
    id: str | None = None,  # noqa: A002 - mirrors the wire field
) -> WebSearchPart:
    """A provider-native web search the vendor ran, finding ``(url, title)`` pages."""
    return WebSearchPart(query, tuple((u, t) for u, t in results), id)


def reply(
    *parts: Part,
    usage: Usage | None = None,
    delay: float | None = None,
    error: tuple[int, Any] | tuple[int, Any, dict[str, str]] | None = None,
    stop_reason: str | None = None,
    stream_error: dict[str, Any] | None = None,
    fault: Fault | None = None,
) -> Reply:
    """A scripted answer made of text, thinking and tool-call parts (in stream order)."""
    err: tuple[int, Any, dict[str, str]] | None = None
    if error is not None:
        err = (int(error[0]), error[1], dict(error[2]) if len(error) > 2 else {})  # type: ignore[misc]
    return Reply(tuple(parts), usage, delay, err, stop_reason, stream_error, fault)


def repeat(entry: Reply | RawReply | ReplyFn) -> Repeat:
    """Answer every remaining request of the conversation with ``entry``."""
    return Repeat(entry)


def raw(source: str | Path | bytes, *, chunk_size: int | None = None) -> RawReply:
    """A recorded response body; ``*.datalines.txt`` holds one SSE data payload per line."""
    if isinstance(source, bytes):
        return RawReply(source, chunk_size=chunk_size)
    path = Path(source)
    return RawReply(path.read_bytes(), path.name.endswith(".datalines.txt"), chunk_size)


def http_error(
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> Fault:
    """Answer HTTP ``status`` with the protocol's own error body and exactly these headers."""
    sent = {k.lower(): v for k, v in (headers or {}).items()}
    if retry_after is not None:
        sent["retry-after"] = f"{retry_after:g}"
    return Fault("http_error", status=status, message=message, headers=tuple(sent.items()))


def disconnect_after(frames: int) -> Fault:
    """Send ``frames`` SSE frames, then close the socket without finishing the chunked body."""
    return Fault("disconnect", after=frames)


def malformed_event(after: int = 0) -> Fault:
    """Send ``after`` frames intact, then one whose JSON is cut in half (pings are skipped)."""
    return Fault("malformed", after=after)


def stall(seconds: float, after: int = 0) -> Fault:
    """Send ``after`` frames, go silent for ``seconds`` (connection kept open), then go on."""
    return Fault("stall", after=after, seconds=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    script: str | None
    index: int | None
    protocol: Protocol | None = None  # None: not a model call (e.g. GET /v1/models)
    query: dict[str, str] = field(default_factory=dict)


# ----- the server -----


class FakeLLM:
    """Scripted fake vendor. Thread-safe; ``start()`` returns the base URL.

    Every request is recorded for tests to inspect (``requests``); a long-running server (the
    demo, a benchmark) bounds that record with ``keep_requests`` (the newest ones are kept).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
        keep_requests: int | None = None,
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
        self._requests: deque[RecordedRequest] = deque(maxlen=keep_requests)
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

    def _choose(self, seen: RecordedRequest) -> Reply | RawReply:
        """Record the request and decide its answer (callables are called outside the lock)."""
        entry: ReplyEntry | None
        body: dict[str, Any] = seen.body
        with self._lock:
            if self._replays:
                self._requests.append(seen)
                return self._replays.popleft()
            key = self._conversation_key(body)
            script = key[0]
            if SUMMARY_REQUEST_MARKER in last_user_text(body):
                self._requests.append(replace(seen, script=script))
                conversation = self._conversation_ids[key]
                return reply(text(f"{self.summary_text}\n\n[fake-llm conversation {conversation}]"))
            index = self._cursors.get(key, 0)
            entries = self._scripts.get(script) or []
            entry = entries[index] if index < len(entries) else None
            if not isinstance(entry, Repeat):
                self._cursors[key] = index + 1
            self._requests.append(replace(seen, script=script, index=index))
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
        protocol = _protocol_of(path)
        query = dict(urllib.parse.parse_qsl(request.query))
        if request.method == "GET" and path.rstrip("/").endswith("/models"):
            with self._lock:
                self._requests.append(
                    RecordedRequest(path, request.headers, None, None, None, query=query)
                )
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
            status, error = _error_response(protocol, 400, "request body is not a JSON object")
            await _send_json(writer, status, *error)
            return
        seen = RecordedRequest(path, request.headers, body, None, None, protocol, query)
        if self.api_key is not None and _presented_key(request.headers) != self.api_key:
            with self._lock:
                self._requests.append(seen)
            status, error = _error_response(protocol, 401, "invalid API key")
            await _send_json(writer, status, *error)
            return
        streaming = bool(body.get("stream"))
        bedrock = _BEDROCK_PATH.fullmatch(path) if protocol == "bedrock" else None
        if bedrock is not None:
            # Bedrock's SDK moves ``model`` into the path and picks streaming by the path.
            body = {**body, "model": urllib.parse.unquote(bedrock.group(1))}
            streaming = bedrock.group(2) == "invoke-with-response-stream"
        try:
            answer = await asyncio.get_running_loop().run_in_executor(None, self._choose, seen)
        except Exception as exc:  # noqa: BLE001 - a broken reply function must not hang a test
            message = f"fake LLM: the scripted reply function failed: {exc!r}"
            status, (error, headers) = _error_response(protocol, 500, message)
            await _send_json(writer, status, error, {**headers, "x-should-retry": "false"})
            return
        if isinstance(answer, RawReply):
            await _send_raw(writer, protocol, answer)
        elif answer.error is not None:
            status, error_body, headers = answer.error
            await _send_json(writer, status, error_body, _error_headers(status, headers))
        elif answer.fault is not None and answer.fault.kind == "http_error":
            await _send_fault_error(writer, protocol, answer.fault)
        elif not streaming:
            await _send_json(writer, 200, _whole_answer(protocol, answer, body))
        else:
            frames = _stream_frames(protocol, answer, body)
            delay = answer.delay if answer.delay is not None else self.chunk_delay
            await _send_stream(writer, frames, delay, answer.fault, protocol)


# ----- request helpers shared by the server and DEMO_SCRIPT -----


# Text parts: ``text`` (Anthropic, Chat Completions) and ``input_text`` (Responses).
_TEXT_PARTS = ("text", "input_text")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in _TEXT_PARTS
        )
    return ""


def _conversation(body: dict[str, Any]) -> list[Any]:
    """``messages`` (Anthropic, Chat Completions) or the Responses ``input`` (list or string)."""
    if "messages" in body or "input" not in body:
        return body.get("messages") or []
    items = body["input"]
    return [{"role": "user", "content": items}] if isinstance(items, str) else items or []


def _user_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    # Every protocol calls it role "user" (Anthropic tool results live there too).
    return [m for m in _conversation(body) if isinstance(m, dict) and m.get("role") == "user"]


def first_user_text(body: dict[str, Any]) -> str:
    """The first text of the first user message: stable even when later turns merge into it."""
    users = _user_messages(body)
    if not users:
        return ""
    content = users[0].get("content")
    if isinstance(content, list):
        texts = [
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and p.get("type") in _TEXT_PARTS
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
    """The tool results sent since the last user prompt (text), in order, for any protocol."""
    results: list[str] = []
    for message in _conversation(body):
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if role == "tool":
            results.append(_content_text(content))
        elif message.get("type") == "function_call_output":
            results.append(_content_text(message.get("output")))
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


def _usage_of(answer: Reply, body: dict[str, Any]) -> Usage:
    if answer.usage is not None:
        return answer.usage
    produced = sum(
        len(p.text)
        if isinstance(p, TextPart | ThinkingPart)
        else len(p.query)
        if isinstance(p, WebSearchPart)
        else len(json.dumps(p.arguments))
        for p in answer.parts
    )
    return Usage(
        input_tokens=len(json.dumps(_conversation(body))) // 4,
        output_tokens=max(1, produced // 4),
    )


def _neutral_stop(answer: Reply) -> str:
    return answer.stop_reason or (
        "tool_use" if any(isinstance(p, ToolCallPart) for p in answer.parts) else "end_turn"
    )


def _stream_frames(protocol: Protocol, answer: Reply, body: dict[str, Any]) -> Iterator[bytes]:
    """The SSE frames of a scripted answer in ``protocol``'s encoding (writers: ``fake_wire``)."""
    write = {"anthropic": anthropic_stream, "chat": chat_stream, "responses": responses_stream}
    frames = write["anthropic" if protocol == "bedrock" else protocol](
        answer.parts,
        body,
        usage=_usage_of(answer, body),
        stop=_neutral_stop(answer),
        stream_error=answer.stream_error,
    )
    return bedrock_frames(frames) if protocol == "bedrock" else frames


def _whole_answer(protocol: Protocol, answer: Reply, body: dict[str, Any]) -> dict[str, Any]:
    """The non-streaming JSON body of a scripted answer."""
    write = {"anthropic": anthropic_message, "chat": chat_completion, "responses": responses_object}
    return write["anthropic" if protocol == "bedrock" else protocol](
        answer.parts, body, usage=_usage_of(answer, body), stop=_neutral_stop(answer)
    )


def _protocol_of(path: str) -> Protocol | None:
    """The protocol a POST path speaks, for OpenAI, Anthropic, Bedrock and both Azure forms."""
    if _BEDROCK_PATH.fullmatch(path):
        return "bedrock"
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    return None


def _error_response(
    protocol: Protocol, status: int, message: str
) -> tuple[int, tuple[dict[str, Any], dict[str, str]]]:
    """Status, body and headers of the server's own refusals (bad body, wrong key, failure)."""
    if protocol == "bedrock":
        if status == 401:
            # AWS answers an unknown key or signature with 403, as UnrecognizedClientException.
            status, message = 403, "The security token included in the request is invalid."
            return status, ({"message": message}, {"x-amzn-errortype": _amzn_type(401)})
        return status, ({"message": message}, {"x-amzn-errortype": _amzn_type(status)})
    return status, (_error_body(protocol, status, message), {})


def _amzn_type(status: int) -> str:
    """An ``x-amzn-errortype`` value as Bedrock sends it (name, colon, namespace URL)."""
    name = BEDROCK_HTTP_ERRORS.get(status, "InternalServerException")
    return f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"


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
    for name in ("x-api-key", "api-key"):  # Anthropic; Azure OpenAI
        if name in headers:
            return headers[name]
    auth = headers.get("authorization", "")
    if auth.startswith("AWS4-HMAC-SHA256 "):
        # SigV4: the access key id of ``Credential=<id>/<date>/<region>/<service>/aws4_request``.
        credential = re.search(r"Credential=([^/,\s]+)", auth)
        return credential.group(1) if credential else None
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
    if protocol == "bedrock" and _is_sse(answer.content_type):
        # A recorded Anthropic stream, re-framed as Bedrock sends it (one event per message).
        text = answer.data.decode()
        lines = text.splitlines() if answer.datalines else sse_payloads(answer.data)
        events = [line for line in lines if line.strip()]
        return [bedrock_chunk(e) for e in events if json.loads(e).get("type") != "ping"]
    if answer.datalines:
        frames = []
        for line in answer.data.decode().splitlines():
            if not line.strip():
                continue
            if protocol in ("anthropic", "responses"):  # both name each event
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
    query: str = ""


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
    path, _, query = target.partition("?")
    return _HttpRequest(method, path, headers, body, query)


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


async def _send_stream(
    writer: asyncio.StreamWriter,
    frames: Iterator[bytes],
    delay: float,
    fault: Fault | None = None,
    protocol: Protocol = "anthropic",
) -> None:
    if fault is not None:
        await _send_faulty_stream(writer, frames, delay, fault, protocol)
        return
    await _start_stream(writer, 200, _stream_type(protocol))
    for i, frame in enumerate(frames):
        if delay and i:
            await asyncio.sleep(delay)
        await _send_chunk(writer, frame)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _is_sse(content_type: str) -> bool:
    return content_type.startswith("text/event-stream")


def _stream_type(protocol: Protocol) -> str:
    if protocol == "bedrock":
        return EVENTSTREAM_CONTENT_TYPE
    return "text/event-stream; charset=utf-8"


async def _send_raw(writer: asyncio.StreamWriter, protocol: Protocol, answer: RawReply) -> None:
    content_type = answer.content_type
    if protocol == "bedrock" and _is_sse(content_type):
        content_type = EVENTSTREAM_CONTENT_TYPE
    await _start_stream(writer, answer.status, content_type)
    for piece in _raw_frames(answer, protocol):
        await _send_chunk(writer, piece)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


# ----- fault injection (protocol-agnostic: works on encoded SSE frames) -----

_FAULT_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_FAULT_OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def vendor_error_body(protocol: str, status: int, message: str) -> dict[str, Any]:
    """The error body a vendor sends with ``status``: Anthropic's, Bedrock's or OpenAI's shape."""
    if protocol == "bedrock":
        return {"message": message}  # the error type is in the ``x-amzn-errortype`` header
    if protocol == "anthropic":
        kind = _FAULT_ANTHROPIC_TYPES.get(status, "api_error")
        return {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": f"req_fake{uuid.uuid4().hex[:20]}",
        }
    kind = "server_error" if status >= 500 else "invalid_request_error"
    if status == 429:
        kind = "requests"
    error = {
        "message": message,
        "type": kind,
        "param": None,
        "code": _FAULT_OPENAI_CODES.get(status),
    }
    return {"error": error}


async def _send_fault_error(writer: asyncio.StreamWriter, protocol: str, fault: Fault) -> None:
    message = fault.message or f"fake LLM: scripted HTTP {fault.status}"
    body = vendor_error_body(protocol, fault.status, message)
    headers = dict(fault.headers)
    if protocol == "bedrock":
        headers.setdefault("x-amzn-errortype", _amzn_type(fault.status))
    await _send_json(writer, fault.status, body, headers)


def _is_keepalive(frame: bytes, protocol: Protocol = "anthropic") -> bool:
    """A frame clients skip without parsing: comments only, or an Anthropic ``ping``."""
    if protocol == "bedrock":
        return False  # Bedrock sends no keep-alives
    lines = frame.decode("utf-8", "replace").splitlines()
    return "event: ping" in lines or not any(line.startswith("data:") for line in lines)


def _corrupt(frame: bytes, protocol: Protocol = "anthropic") -> bytes:
    """The frame with every ``data:`` payload cut in half: a JSON prefix never parses.

    A Bedrock message stays a valid event-stream message (its CRCs are recomputed): the Anthropic
    event JSON inside it is what breaks, as a garbled model event would.
    """
    if protocol == "bedrock":
        headers, payload = decode_eventstream(frame)
        inner = base64.b64decode(json.loads(payload)["bytes"])
        broken = base64.b64encode(inner[: max(1, len(inner) // 2)]).decode()
        return eventstream_message(headers, json.dumps({"bytes": broken}).encode())
    out = []
    for line in frame.decode("utf-8", "replace").split("\n"):
        if line.startswith("data:"):
            payload = line[5:].strip()
            line = "data: " + payload[: max(1, len(payload) // 2)]
        out.append(line)
    return "\n".join(out).encode()


async def _send_faulty_stream(
    writer: asyncio.StreamWriter,
    frames: Iterator[bytes],
    delay: float,
    fault: Fault,
    protocol: Protocol = "anthropic",
) -> None:
    """Stream ``frames`` like ``_send_stream`` but break it as ``fault`` says."""
    await _start_stream(writer, 200, _stream_type(protocol))
    done = False  # the fault has happened (each happens once)
    for i, frame in enumerate(frames):
        if i >= fault.after and not done:
            if fault.kind == "disconnect":
                await _hang_up(writer)
            elif fault.kind == "stall":
                await asyncio.sleep(fault.seconds)
                done = True
            elif fault.kind == "malformed" and not _is_keepalive(frame, protocol):
                frame = _corrupt(frame, protocol)
                done = True
        if delay and i:
            await asyncio.sleep(delay)
        await _send_chunk(writer, frame)
    if fault.kind == "disconnect":
        await _hang_up(writer)  # asked for more frames than the answer has: still never finish
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _hang_up(writer: asyncio.StreamWriter) -> None:
    """Close the socket mid-body (FIN after what was sent) and end this connection."""
    writer.close()
    await writer.wait_closed()
    # Caught by ``_serve_connection``: stops it reading further requests from a dead socket.
    raise ConnectionAbortedError("fake LLM: scripted disconnect")


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
