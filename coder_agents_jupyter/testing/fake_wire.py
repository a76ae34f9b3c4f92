"""What the fake vendor puts on the wire: scripted parts and their encoding per protocol.

One writer pair per protocol (Anthropic Messages, OpenAI Chat Completions, OpenAI Responses): a
stream of SSE frames and the non-streaming body, both from the same arguments (the parts, the
request body, the usage and the neutral stop reason). AWS Bedrock reuses the Anthropic writers:
the same events, each in an AWS event-stream ``chunk`` message instead of an SSE frame. The
server (``fake_provider``) picks the writer; this module imports nothing from it, so ``python -m
coder_agents_jupyter.testing.fake_provider`` and the package import share one set of part
classes.

The Responses writer follows the recorded streams in ``fixtures/llm/openai-responses``:
``event:`` + ``data:`` frames whose JSON ``type`` matches the event name, a ``sequence_number`` that
rises by one per event, ``response.created`` -> ``response.in_progress`` -> items -> one terminal
event, and no ``[DONE]``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..llm.types import Usage

# ----- what a script says -----


@dataclass(frozen=True)
class TextPart:
    text: str
    citations: tuple[str, ...] = ()  # URLs (of this answer's web searches) the text cites


@dataclass(frozen=True)
class ThinkingPart:
    text: str
    signature: str | None = None


@dataclass(frozen=True)
class ToolCallPart:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class WebSearchPart:
    """A provider-native web search the vendor ran: ``results`` are ``(url, title)`` pairs."""

    query: str
    results: tuple[tuple[str, str], ...] = ()
    id: str | None = None


Part = TextPart | ThinkingPart | ToolCallPart | WebSearchPart


# ----- encoding helpers every writer uses -----


def sse(data: dict[str, Any], event: bool = False) -> bytes:
    """One SSE frame; with ``event`` an ``event:`` line named after the JSON ``type`` leads it."""
    payload = json.dumps(data, separators=(",", ":"))
    head = f"event: {data['type']}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def chunks(value: str, size: int = 12) -> list[str]:
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


def fragments(arguments: dict[str, Any], size: int = 16) -> list[str]:
    """Tool arguments as JSON cut into fixed-size pieces (splits land mid-key and mid-string)."""
    encoded = json.dumps(arguments)
    return [encoded[i : i + size] for i in range(0, len(encoded), size)]


def fake_signature(value: str) -> str:
    """A stable opaque token for ``value`` (thinking signatures, encrypted reasoning)."""
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return base64.b64encode(f"fake-signature:{digest}".encode()).decode()


def call_id(part: ToolCallPart | WebSearchPart, prefix: str = "call_fake") -> str:
    """The part's own id, else a fresh one in the vendor's style."""
    return part.id or prefix + uuid.uuid4().hex[:20]


def search_titles(parts: Sequence[Part]) -> dict[str, str]:
    """The title of every URL the answer's web searches found (for citations)."""
    return {url: title for p in parts if isinstance(p, WebSearchPart) for url, title in p.results}


def fake_encrypted(value: str) -> str:
    """An opaque vendor token (Anthropic's encrypted search content and citation indexes)."""
    return "EqFakeEncrypted" + base64.b64encode(value.encode()).decode()


def wire_stop(neutral: str, protocol: str) -> str:
    """The vendor's stop/finish reason for a neutral one (Anthropic, else Chat Completions)."""
    if protocol == "anthropic":
        return neutral if neutral != "content_filter" else "refusal"
    return {
        "end_turn": "stop",
        "tool_use": "tool_calls",
        "max_tokens": "length",
        "content_filter": "content_filter",
        "refusal": "stop",
    }.get(neutral, "stop")


# ----- Anthropic Messages API -----


def anthropic_usage(usage: Usage, searches: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    }
    if searches:
        out["server_tool_use"] = {"web_search_requests": searches}
    return out


def anthropic_search_blocks(part: WebSearchPart) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``server_tool_use`` and ``web_search_tool_result`` blocks of one search (whole)."""
    use_id = call_id(part, "srvtoolu_fake")
    use = {"type": "server_tool_use", "id": use_id, "name": "web_search", "input": {}}
    results = [
        {
            "type": "web_search_result",
            "url": url,
            "title": title,
            "encrypted_content": fake_encrypted(url),
            "page_age": None,
        }
        for url, title in part.results
    ]
    result = {"type": "web_search_tool_result", "tool_use_id": use_id, "content": results}
    return use, result


def anthropic_citation(part: TextPart, url: str, titles: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "web_search_result_location",
        "url": url,
        "title": titles.get(url, url),
        "encrypted_index": fake_encrypted(part.text),
        "cited_text": part.text[:150],
    }


def anthropic_stream(
    parts: Sequence[Part],
    body: dict[str, Any],
    *,
    usage: Usage,
    stop: str,
    stream_error: dict[str, Any] | None = None,
) -> Iterator[bytes]:
    """The SSE frames of one scripted answer; ``stop`` is the neutral stop reason."""
    start_usage = {**anthropic_usage(usage), "output_tokens": 1}
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
    yield sse({"type": "message_start", "message": message}, event=True)
    yield sse({"type": "ping"}, event=True)
    index = 0
    titles = search_titles(parts)
    for part in parts:
        if isinstance(part, WebSearchPart):
            use, result = anthropic_search_blocks(part)
            query = [""] + fragments({"query": part.query})
            yield from _anthropic_block(
                index, use, [{"type": "input_json_delta", "partial_json": f} for f in query]
            )
            yield from _anthropic_block(index + 1, result, [])  # results arrive whole
            index += 2
            continue
        if isinstance(part, TextPart):
            if not part.text:
                continue
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [
                {"type": "citations_delta", "citation": anthropic_citation(part, url, titles)}
                for url in part.citations
            ]
            if deltas:
                start["citations"] = []
            deltas += [{"type": "text_delta", "text": c} for c in chunks(part.text)]
        elif isinstance(part, ThinkingPart):
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": c} for c in chunks(part.text)]
            signature = part.signature or fake_signature(part.text)
            deltas.append({"type": "signature_delta", "signature": signature})
        else:
            start = {
                "type": "tool_use",
                "id": call_id(part, "toolu_fake"),
                "name": part.name,
                "input": {},
            }
            pieces = [""] + fragments(part.arguments)  # the real API starts with ""
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in pieces]
        yield from _anthropic_block(index, start, deltas)
        index += 1
    if stream_error is not None:
        yield sse({"type": "error", "error": stream_error}, True)
        return
    yield sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": wire_stop(stop, "anthropic"), "stop_sequence": None},
            "usage": anthropic_usage(usage, _searches(parts)),
        },
        True,
    )
    yield sse({"type": "message_stop"}, True)


def _anthropic_block(
    index: int, start: dict[str, Any], deltas: Sequence[dict[str, Any]]
) -> Iterator[bytes]:
    yield sse({"type": "content_block_start", "index": index, "content_block": start}, True)
    for delta in deltas:
        yield sse({"type": "content_block_delta", "index": index, "delta": delta}, True)
    yield sse({"type": "content_block_stop", "index": index}, True)


def _searches(parts: Sequence[Part]) -> int:
    return sum(isinstance(p, WebSearchPart) for p in parts)


def anthropic_message(
    parts: Sequence[Part], body: dict[str, Any], *, usage: Usage, stop: str
) -> dict[str, Any]:
    """The non-streaming answer."""
    content: list[dict[str, Any]] = []
    titles = search_titles(parts)
    for part in parts:
        if isinstance(part, WebSearchPart):
            use, result = anthropic_search_blocks(part)
            content += [{**use, "input": {"query": part.query}}, result]
        elif isinstance(part, TextPart) and part.text:
            block: dict[str, Any] = {"type": "text", "text": part.text}
            if part.citations:
                block["citations"] = [anthropic_citation(part, u, titles) for u in part.citations]
            content.append(block)
        elif isinstance(part, ThinkingPart):
            signature = part.signature or fake_signature(part.text)
            content.append({"type": "thinking", "thinking": part.text, "signature": signature})
        elif isinstance(part, ToolCallPart):
            content.append(
                {
                    "type": "tool_use",
                    "id": call_id(part, "toolu_fake"),
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
        "stop_reason": wire_stop(stop, "anthropic"),
        "stop_sequence": None,
        "usage": anthropic_usage(usage, _searches(parts)),
    }


# ----- OpenAI Chat Completions -----


def chat_usage(usage: Usage) -> dict[str, Any]:
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def chat_stream(
    parts: Sequence[Part],
    body: dict[str, Any],
    *,
    usage: Usage,
    stop: str,
    stream_error: dict[str, Any] | None = None,
) -> Iterator[bytes]:
    """The SSE frames of one scripted answer, ``[DONE]`` last."""
    base = {
        "id": f"chatcmpl-fake{uuid.uuid4().hex[:20]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**base, "choices": [choice]})

    starts_with_call = bool(parts) and isinstance(parts[0], ToolCallPart)
    yield chunk({"role": "assistant", "content": None if starts_with_call else ""})
    call_index = 0
    for part in parts:
        if isinstance(part, TextPart):
            for piece in chunks(part.text):
                yield chunk({"content": piece})
        elif isinstance(part, ThinkingPart):
            for piece in chunks(part.text):
                yield chunk({"reasoning_content": piece})
        elif isinstance(part, WebSearchPart):
            continue  # Chat Completions has no provider-native web search
        else:
            first = {
                "index": call_index,
                "id": call_id(part),
                "type": "function",
                "function": {"name": part.name, "arguments": ""},
            }
            yield chunk({"tool_calls": [first]})
            for fragment in fragments(part.arguments):
                yield chunk(
                    {"tool_calls": [{"index": call_index, "function": {"arguments": fragment}}]}
                )
            call_index += 1
    if stream_error is not None:
        yield sse({**base, "choices": [], "error": stream_error})
        yield b"data: [DONE]\n\n"
        return
    yield chunk({}, wire_stop(stop, "chat"))
    if (body.get("stream_options") or {}).get("include_usage"):
        yield sse({**base, "choices": [], "usage": chat_usage(usage)})
    yield b"data: [DONE]\n\n"


def chat_completion(
    parts: Sequence[Part], body: dict[str, Any], *, usage: Usage, stop: str
) -> dict[str, Any]:
    """The non-streaming answer."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    reasoning = [p.text for p in parts if isinstance(p, ThinkingPart)]
    calls = [p for p in parts if isinstance(p, ToolCallPart)]
    if texts:
        message["content"] = "".join(texts)
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [
            {
                "id": call_id(p),
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
        "choices": [{"index": 0, "message": message, "finish_reason": wire_stop(stop, "chat")}],
        "usage": chat_usage(usage),
    }


# ----- OpenAI Responses API -----


def responses_usage(usage: Usage) -> dict[str, Any]:
    """``response.usage``: ``input_tokens`` counts cached tokens too."""
    total = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    details: dict[str, int] = {"cached_tokens": usage.cache_read_tokens}
    if usage.cache_write_tokens:
        details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "input_tokens": total,
        "input_tokens_details": details,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": total + usage.output_tokens,
    }


def encrypted_reasoning(part: ThinkingPart) -> str:
    """A fake ``encrypted_content`` that names its text, so tests can see what came back."""
    payload = json.dumps({"reasoning": part.text, "signature": part.signature or ""})
    return "gAAAAfake" + base64.urlsafe_b64encode(payload.encode()).decode()


@dataclass
class _Responses:
    """Builds one Responses stream: numbers events, collects finished items."""

    body: dict[str, Any]
    sequence: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)
    response_id: str = field(default_factory=lambda: f"resp_fake{uuid.uuid4().hex[:24]}")
    created_at: int = field(default_factory=lambda: int(time.time()))

    def event(self, kind: str, **fields: Any) -> bytes:
        frame = sse({"type": kind, "sequence_number": self.sequence, **fields}, event=True)
        self.sequence += 1
        return frame

    def response(self, status: str, **fields: Any) -> dict[str, Any]:
        body = self.body
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body.get("model", "fake"),
            "output": list(self.output) if status != "in_progress" else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None,
            "metadata": {},
            **fields,
        }


def responses_stream(
    parts: Sequence[Part],
    body: dict[str, Any],
    *,
    usage: Usage,
    stop: str,
    stream_error: dict[str, Any] | None = None,
) -> Iterator[bytes]:
    """The SSE frames of one scripted answer; ``stop`` is the neutral stop reason."""
    wire = _Responses(body)
    yield wire.event("response.created", response=wire.response("in_progress"))
    yield wire.event("response.in_progress", response=wire.response("in_progress"))
    include = body.get("include") or []
    encrypted = "reasoning.encrypted_content" in include
    titles = search_titles(parts)
    index = 0  # output_index: one per item
    for part in parts:
        if isinstance(part, ThinkingPart):
            frames = _reasoning_item(wire, index, part, encrypted)
        elif isinstance(part, ToolCallPart):
            frames = _function_call_item(wire, index, part)
        elif isinstance(part, WebSearchPart):
            sources = "web_search_call.action.sources" in include
            frames = _web_search_item(wire, index, part, sources)
        elif part.text:
            annotations = [
                {
                    "type": "url_citation",
                    "start_index": 0,
                    "end_index": len(part.text),
                    "url": url,
                    "title": titles.get(url, url),
                }
                for url in part.citations
            ]
            frames = _message_item(
                wire, index, part.text, refusal=stop == "refusal", annotations=annotations
            )
        else:
            continue
        yield from frames
        index += 1
    if stream_error is not None:
        # The live shape (fixture ``responses-stream-error-insufficient-quota``): a nested error
        # object, which makes the openai SDK raise at once, then ``response.failed``.
        yield wire.event("error", error=stream_error)
        failed = {"code": stream_error.get("code"), "message": stream_error.get("message")}
        yield wire.event("response.failed", response=wire.response("failed", error=failed))
        return
    yield _terminal(wire, usage, stop)


def responses_object(
    parts: Sequence[Part], body: dict[str, Any], *, usage: Usage, stop: str
) -> dict[str, Any]:
    """The non-streaming answer: the response object the terminal event would carry."""
    frames = list(responses_stream(parts, body, usage=usage, stop=stop))
    last = frames[-1].decode().split("data: ", 1)[1]
    return json.loads(last)["response"]


def _terminal(wire: _Responses, usage: Usage, stop: str) -> bytes:
    if stop in ("max_tokens", "content_filter"):
        reason = "max_output_tokens" if stop == "max_tokens" else "content_filter"
        response = wire.response(
            "incomplete", incomplete_details={"reason": reason}, usage=responses_usage(usage)
        )
        return wire.event("response.incomplete", response=response)
    response = wire.response("completed", usage=responses_usage(usage))
    return wire.event("response.completed", response=response)


def _reasoning_item(
    wire: _Responses, index: int, part: ThinkingPart, encrypted: bool
) -> Iterator[bytes]:
    item_id = f"rs_fake{uuid.uuid4().hex[:24]}"
    item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": []}
    full = encrypted_reasoning(part)
    if encrypted:
        # As live: ``.added`` carries a shorter, unusable token; only ``.done`` has the real one.
        item["encrypted_content"] = full[: max(8, len(full) // 4)]
    yield wire.event("response.output_item.added", output_index=index, item=item)
    where = {"item_id": item_id, "output_index": index, "summary_index": 0}
    yield wire.event(
        "response.reasoning_summary_part.added",
        **where,
        part={"type": "summary_text", "text": ""},
    )
    for piece in chunks(part.text):
        yield wire.event("response.reasoning_summary_text.delta", **where, delta=piece)
    yield wire.event("response.reasoning_summary_text.done", **where, text=part.text)
    summary = {"type": "summary_text", "text": part.text}
    yield wire.event("response.reasoning_summary_part.done", **where, part=summary)
    done = {**item, "summary": [summary]}
    if encrypted:
        done["encrypted_content"] = full
    wire.output.append(done)
    yield wire.event("response.output_item.done", output_index=index, item=done)


def _message_item(
    wire: _Responses,
    index: int,
    value: str,
    *,
    refusal: bool,
    annotations: Sequence[dict[str, Any]] = (),
) -> Iterator[bytes]:
    item_id = f"msg_fake{uuid.uuid4().hex[:24]}"
    item = {
        "id": item_id,
        "type": "message",
        "status": "in_progress",
        "content": [],
        "role": "assistant",
    }
    yield wire.event("response.output_item.added", output_index=index, item=item)
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    if refusal:
        part: dict[str, Any] = {"type": "refusal", "refusal": ""}
        kind = "response.refusal"
        final: dict[str, Any] = {"type": "refusal", "refusal": value}
        done_fields: dict[str, Any] = {"refusal": value}
    else:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        kind = "response.output_text"
        final = {**part, "text": value}
        done_fields = {"text": value, "logprobs": []}
    yield wire.event("response.content_part.added", **where, part=part)
    for piece in chunks(value):
        extra = {} if refusal else {"logprobs": []}
        yield wire.event(f"{kind}.delta", **where, delta=piece, **extra)
    for number, annotation in enumerate(annotations):
        yield wire.event(
            "response.output_text.annotation.added",
            **where,
            annotation_index=number,
            annotation=annotation,
        )
    if annotations:
        final["annotations"] = list(annotations)
    yield wire.event(f"{kind}.done", **where, **done_fields)
    yield wire.event("response.content_part.done", **where, part=final)
    done = {**item, "status": "completed", "content": [final]}
    wire.output.append(done)
    yield wire.event("response.output_item.done", output_index=index, item=done)


def _function_call_item(wire: _Responses, index: int, part: ToolCallPart) -> Iterator[bytes]:
    item_id = f"fc_fake{uuid.uuid4().hex[:24]}"
    item = {
        "id": item_id,
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": call_id(part),
        "name": part.name,
    }
    yield wire.event("response.output_item.added", output_index=index, item=item)
    where = {"item_id": item_id, "output_index": index}
    for piece in fragments(part.arguments):
        yield wire.event("response.function_call_arguments.delta", **where, delta=piece)
    arguments = json.dumps(part.arguments)
    yield wire.event("response.function_call_arguments.done", **where, arguments=arguments)
    done = {**item, "status": "completed", "arguments": arguments}
    wire.output.append(done)
    yield wire.event("response.output_item.done", output_index=index, item=done)


def _web_search_item(
    wire: _Responses, index: int, part: WebSearchPart, sources: bool
) -> Iterator[bytes]:
    """A ``web_search_call``: the query and (asked for with ``include``) sources only in
    ``.done``, as live."""
    item_id = part.id or f"ws_fake{uuid.uuid4().hex[:24]}"
    item: dict[str, Any] = {
        "id": item_id,
        "type": "web_search_call",
        "status": "in_progress",
        "action": {"type": "search"},
    }
    yield wire.event("response.output_item.added", output_index=index, item=item)
    where = {"item_id": item_id, "output_index": index}
    for phase in ("in_progress", "searching", "completed"):
        yield wire.event(f"response.web_search_call.{phase}", **where)
    action: dict[str, Any] = {"type": "search", "query": part.query}
    if sources:
        action["sources"] = [{"type": "url", "url": url} for url, _ in part.results]
    done = {**item, "status": "completed", "action": action}
    wire.output.append(done)
    yield wire.event("response.output_item.done", output_index=index, item=done)


# ----- AWS Bedrock (Anthropic models): the Anthropic events in AWS event-stream frames -----

EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING_HEADER = 7  # header value type: UTF-8 string with a 2-byte length

# Anthropic in-stream error types -> the Bedrock exception a stream carries instead.
_BEDROCK_STREAM_EXCEPTIONS = {
    "rate_limit_error": "throttlingException",
    "overloaded_error": "serviceUnavailableException",
    "timeout_error": "modelTimeoutException",
    "invalid_request_error": "validationException",
    "api_error": "internalServerException",
}
# HTTP status -> the ``x-amzn-errortype`` Bedrock answers with.
BEDROCK_HTTP_ERRORS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def eventstream_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total length, headers length, CRC32), string
    headers, payload, and the CRC32 of everything before it."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += bytes([len(raw_name)]) + raw_name + bytes([_STRING_HEADER])
        encoded += struct.pack(">H", len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def decode_eventstream(frame: bytes) -> tuple[dict[str, str], bytes]:
    """The string headers and payload of one message built by ``eventstream_message``."""
    total, headers_len = struct.unpack(">II", frame[:8])
    raw = frame[12 : 12 + headers_len]
    headers: dict[str, str] = {}
    pos = 0
    while pos < len(raw):
        name_len = raw[pos]
        name = raw[pos + 1 : pos + 1 + name_len].decode()
        pos += 1 + name_len + 1  # the value type byte: strings only here
        (value_len,) = struct.unpack(">H", raw[pos : pos + 2])
        headers[name] = raw[pos + 2 : pos + 2 + value_len].decode()
        pos += 2 + value_len
    return headers, frame[12 + headers_len : total - 4]


def bedrock_chunk(event: dict[str, Any] | str) -> bytes:
    """A ``chunk`` event: the Anthropic event JSON, base64-encoded in ``{"bytes": ...}``."""
    data = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
    payload = json.dumps({"bytes": base64.b64encode(data.encode()).decode()}).encode()
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return eventstream_message(headers, payload)


def bedrock_exception(kind: str, message: str) -> bytes:
    """An exception message inside the stream (``throttlingException``...)."""
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return eventstream_message(headers, json.dumps({"message": message}).encode())


def bedrock_stream_exception(error: dict[str, Any]) -> bytes:
    """The exception frame for a scripted ``stream_error``: a Bedrock exception name as its
    ``type`` is used as is, an Anthropic error type is translated."""
    kind = str(error.get("type") or "")
    if not kind.endswith("Exception"):
        kind = _BEDROCK_STREAM_EXCEPTIONS.get(kind, "modelStreamErrorException")
    return bedrock_exception(kind, str(error.get("message") or kind))


def bedrock_frames(sse_frames: Iterator[bytes]) -> Iterator[bytes]:
    """Anthropic SSE frames re-framed as Bedrock sends them: no pings, an ``error`` event as an
    exception, and invocation metrics on ``message_stop``."""
    input_tokens = output_tokens = 0
    for frame in sse_frames:
        for payload in sse_payloads(frame):
            event = json.loads(payload)
            kind = event.get("type")
            if kind == "ping":
                continue
            if kind == "error":
                yield bedrock_stream_exception(event.get("error") or {})
                continue
            if kind == "message_start":
                input_tokens = event["message"].get("usage", {}).get("input_tokens", 0)
            elif kind == "message_delta":
                output_tokens = (event.get("usage") or {}).get("output_tokens", 0)
            elif kind == "message_stop":
                event["amazon-bedrock-invocationMetrics"] = {
                    "inputTokenCount": input_tokens,
                    "outputTokenCount": output_tokens,
                    "invocationLatency": 42,
                    "firstByteLatency": 7,
                }
            yield bedrock_chunk(event)


def sse_payloads(data: bytes) -> list[str]:
    """The ``data`` payloads of SSE frames (several ``data:`` lines of one frame joined)."""
    payloads: list[str] = []
    for frame in re.split(r"\r?\n\r?\n", data.decode()):
        lines = [
            line[5:].removeprefix(" ") for line in frame.splitlines() if line.startswith("data:")
        ]
        if lines:
            payloads.append("\n".join(lines))
    return payloads
