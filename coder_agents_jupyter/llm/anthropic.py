"""Anthropic Messages API through the official ``anthropic`` SDK, streaming raw events.

Raw events (``messages.create(stream=True)``) rather than the SDK's stream helper: the helper
re-parses partial tool JSON on every delta and raises on input cut by ``max_tokens``, while here a
truncated tool call is simply left out and reported as ``stop_reason="max_tokens"``.

``AnthropicMessagesProvider`` works over any client of the SDK: ``AnthropicProvider`` (the API
and Messages-compatible gateways) and ``bedrock.BedrockProvider`` (AWS Bedrock, whose client only
changes the URL, the auth and the stream framing) share its request building and stream parsing.

Provider-native web search (``ModelRequest.web_search``) is Anthropic's server tool: the vendor
runs the searches inside the call and streams ``server_tool_use`` + ``web_search_tool_result``
blocks, which become a ``SourcesBlock`` holding the raw blocks for the echo the API requires. A
long server-tool loop may stop with ``pause_turn``; the provider then continues the same call
itself, so callers see one answer.
"""

from __future__ import annotations

import bisect
import logging
import weakref
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anthropic

from ..errors import ProviderError
from .errors import map_provider_errors
from .http import anthropic_http_client
from .types import (
    ImageBlock,
    Message,
    ModelRequest,
    ReasoningBlock,
    ReasoningDelta,
    Source,
    SourcesBlock,
    StopReason,
    StreamDone,
    StreamEvent,
    TextBlock,
    TextDelta,
    ToolCallBlock,
    ToolCallStarted,
    ToolResultBlock,
    Usage,
)
from .wire import (
    EMPTY_TOOL_RESULT,
    IMAGE_UNAVAILABLE,
    attach_citations,
    guess_media_type,
    parse_arguments,
    rendered,
)

log = logging.getLogger(__name__)


# Thinking budgets for ``reasoning_effort``; capped below ``max_tokens`` as the API requires.
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "max": 32768}
_MIN_THINKING_BUDGET = 1024

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "refusal",
}

# The server tool sent when a request asks for web search; ``max_uses`` bounds one call's cost.
WEB_SEARCH_TOOL: dict[str, Any] = {
    "type": "web_search_20250305",
    "name": "web_search",
    "max_uses": 5,
}
# ``SourcesBlock.provider_data`` key: the server-tool blocks exactly as received, in order.
SERVER_BLOCKS = "anthropic_blocks"
# ``pause_turn`` continuations of one call before its answer is taken as it is.
MAX_PAUSE_CONTINUATIONS = 5


class AnthropicMessagesProvider:
    """The Messages protocol over an ``anthropic`` SDK client (direct API, gateway or Bedrock).

    ``secrets`` are masked out of error messages. ``supports_web_search`` is False where the
    endpoint has no web search server tool; a request asking for it is then answered without.
    ``extra_body`` adds endpoint-specific fields to every request body.
    """

    supports_web_search: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        client: anthropic.AsyncAnthropic | anthropic.AsyncAnthropicBedrock,
        *,
        secrets: Iterable[str | None] = (),
        prompt_caching: bool = True,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.prompt_caching = prompt_caching
        self._client = client
        self._extra_body = extra_body
        self._secrets = tuple(s for s in secrets if s)
        self._warned_web_search = False

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        if request.web_search and not self.supports_web_search:
            if not self._warned_web_search:
                self._warned_web_search = True
                log.info("%s: no provider-native web search here; answering without", self.name)
            request = request.model_copy(update={"web_search": False})
        partial: list[Any] = []  # content of earlier ``pause_turn`` rounds of this call
        cited: list[Source] = []  # a later round may cite a page an earlier round's search found
        usage: Usage | None = None
        for round_ in range(MAX_PAUSE_CONTINUATIONS + 1):
            current = request
            if partial:
                # Continue the paused turn: send what it produced so far back as the assistant's.
                paused = Message(role="assistant", content=partial)
                current = request.model_copy(update={"messages": [*request.messages, paused]})
            params = build_params(current, prompt_caching=self.prompt_caching)
            if self._extra_body:
                params["extra_body"] = self._extra_body
            state = _StreamState()
            async with map_provider_errors(self.name, secrets=self._secrets):
                events = await self._client.messages.create(**params, stream=True)
                async with events:
                    async for event in events:
                        for out in state.feed(event):
                            yield out
            done = state.finish(self.name)
            usage = done.usage if usage is None else _continued_usage(usage, done.usage)
            partial.extend(done.message.content)
            cited.extend(state.cited)
            if state.stop_reason != "pause_turn" or round_ == MAX_PAUSE_CONTINUATIONS:
                break
        attach_citations(partial, cited)
        yield StreamDone(
            message=Message(role="assistant", content=partial),
            stop_reason=done.stop_reason,
            usage=usage or Usage(),
        )


class AnthropicProvider(AnthropicMessagesProvider):
    """One Anthropic endpoint (api.anthropic.com or a Messages-compatible gateway)."""

    def __init__(
        self,
        name: str,
        api_key: str,
        base_url: str | None = None,
        headers: dict[str, str] | None = None,
        max_retries: int = 2,
        timeout: float = 600.0,
        prompt_caching: bool = True,
    ) -> None:
        client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            default_headers=headers,
            max_retries=max_retries,
            timeout=timeout,
            http_client=anthropic_http_client(),
        )
        super().__init__(name, client, secrets=(api_key,), prompt_caching=prompt_caching)


def _continued_usage(before: Usage, after: Usage) -> Usage:
    """Usage of a call continued after ``pause_turn``: output adds up; the input side is the
    last round's, which re-read everything, so ``context_tokens`` stays the context size."""
    return after.model_copy(
        update={
            "output_tokens": before.output_tokens + after.output_tokens,
            "reasoning_tokens": before.reasoning_tokens + after.reasoning_tokens,
        }
    )


# ----- neutral -> wire -----


def build_params(request: ModelRequest, *, prompt_caching: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``messages.create`` for ``request`` (without ``stream``)."""
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_output_tokens,
        "messages": to_wire_messages(request.messages, server_tools=request.web_search),
    }
    if request.system.strip():
        system: dict[str, Any] = {"type": "text", "text": request.system}
        if prompt_caching:
            system["cache_control"] = {"type": "ephemeral"}
        params["system"] = [system]
    tools: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in request.tools
    ]
    if request.web_search:
        tools.append(dict(WEB_SEARCH_TOOL))
    if tools:
        params["tools"] = tools
    thinking = thinking_config(request.reasoning_effort, request.max_output_tokens)
    if thinking is not None:
        params["thinking"] = thinking
    elif request.temperature is not None:
        # With thinking enabled the API rejects any temperature other than the default.
        params["temperature"] = request.temperature
    # The blocks are the messages' shared renderings (``rendered``): the last one is
    # copied before it is changed.
    if prompt_caching and params["messages"]:
        # Second breakpoint on the newest block: each turn re-reads the previous turn's prefix.
        content = params["messages"][-1]["content"]
        if content[-1].get("type") in ("text", "image", "tool_result", "tool_use"):
            content[-1] = {**content[-1], "cache_control": {"type": "ephemeral"}}
    if params["messages"] and params["messages"][-1]["role"] == "assistant":
        # A paused turn sent back to continue: the API rejects a final assistant text block
        # that ends in whitespace.
        content = params["messages"][-1]["content"]
        if content[-1].get("type") == "text":
            content[-1] = {**content[-1], "text": content[-1]["text"].rstrip()}
    return params


def thinking_config(effort: str | None, max_tokens: int) -> dict[str, Any] | None:
    """``thinking`` for a reasoning effort: a named level, ``adaptive``, or a token budget."""
    if not effort or effort in ("none", "off", "disabled"):
        return None
    if effort == "adaptive":
        return {"type": "adaptive"}
    budget = THINKING_BUDGETS.get(effort)
    if budget is None and effort.isdigit():
        budget = int(effort)
    if budget is None:
        log.warning("unknown reasoning effort %r for Anthropic; thinking left off", effort)
        return None
    budget = min(budget, max_tokens - 1)
    if budget < _MIN_THINKING_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def to_wire_messages(
    messages: Iterable[Message], *, server_tools: bool = True
) -> list[dict[str, Any]]:
    """Anthropic ``messages``: tool results as user turns, same-role turns merged.

    ``server_tools`` sends earlier web searches (their raw blocks) back; without it (web search
    now off) they are left out rather than referring to a tool the request no longer has.

    Each step of a chat resends its history plus a message or two, so the turns of the
    history's settled part (every turn but the last, which the next message could still
    extend) are kept from one call to the next, with the first message, and only the rest is
    built. Blocks are shared, and so are the turns before the last: copy what you change.
    """
    msgs = list(messages)
    if not msgs:
        return []
    form = "anthropic" if server_tools else "anthropic-no-server-tools"
    memo = rendered(msgs[0], f"{form}/turns", lambda _: _Settled())
    start, settled = memo.reuse(msgs)
    tail: list[dict[str, Any]] = []
    ends: list[int] = []  # after which message each tail turn ends
    for i in range(start, len(msgs)):
        message = msgs[i]
        if message.role == "assistant":
            role = "assistant"
            blocks = rendered(
                message, form, lambda m: _assistant_blocks(m, server_tools=server_tools)
            )
        else:
            role, blocks = "user", rendered(message, "anthropic", _user_blocks)
        if not blocks:
            continue
        if tail and tail[-1]["role"] == role:
            tail[-1]["content"].extend(blocks)
            ends[-1] = i + 1
        else:
            tail.append({"role": role, "content": list(blocks)})
            ends.append(i + 1)
    for turn in tail:
        if turn["role"] == "user":
            # The API wants tool_result blocks at the start of the user turn.
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    memo.settle(msgs, tail[:-1], ends[:-1])
    return settled + tail


class _Settled:
    """The settled turns of one conversation (see ``to_wire_messages``)."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Message]] = []  # the messages the turns cover
        self.turns: list[dict[str, Any]] = []
        self.ends: list[int] = []  # after which message each turn ends

    def reuse(self, msgs: list[Message]) -> tuple[int, list[dict[str, Any]]]:
        """How many of ``msgs`` the kept turns still cover (the same messages, in order, at
        the start), and those turns; the last message is always left to be built."""
        limit = min(len(self.refs), len(msgs) - 1)
        same = 0
        while same < limit and self.refs[same]() is msgs[same]:
            same += 1
        keep = bisect.bisect_right(self.ends, same)
        del self.turns[keep:], self.ends[keep:]
        covered = self.ends[-1] if self.ends else 0
        del self.refs[covered:]
        return covered, list(self.turns)

    def settle(self, msgs: list[Message], turns: list[dict[str, Any]], ends: list[int]) -> None:
        if not turns:
            return
        self.refs += [weakref.ref(m) for m in msgs[len(self.refs) : ends[-1]]]
        self.turns += turns
        self.ends += ends


def _user_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": block.tool_call_id,
                "content": block.content if block.content.strip() else EMPTY_TOOL_RESULT,
            }
            if block.is_error:
                result["is_error"] = True
            blocks.append(result)
        elif isinstance(block, TextBlock):
            if block.text.strip():  # empty text blocks are a 400
                blocks.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            blocks.append(_image(block))
    return blocks


def _image(block: ImageBlock) -> dict[str, Any]:
    if not block.data:
        return {"type": "text", "text": IMAGE_UNAVAILABLE}
    return {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": block.media_type or guess_media_type(block.data),
            "data": block.data,
        },
    }


def _assistant_blocks(message: Message, *, server_tools: bool = True) -> list[dict[str, Any]]:
    reasoning: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []  # text and server-tool blocks, in their original order
    calls: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ReasoningBlock):
            # Only signed thinking can go back; unsigned reasoning (another provider's) cannot.
            if block.redacted_data:
                reasoning.append({"type": "redacted_thinking", "data": block.redacted_data})
            elif block.signature:
                reasoning.append(
                    {"type": "thinking", "thinking": block.text, "signature": block.signature}
                )
        elif isinstance(block, TextBlock):
            if block.text.strip():
                texts.append({"type": "text", "text": block.text})
        elif isinstance(block, SourcesBlock):
            # Only this protocol's own search blocks can go back (another provider's cannot).
            raw = (block.provider_data or {}).get(SERVER_BLOCKS)
            if server_tools and isinstance(raw, list):
                texts.extend(dict(b) for b in raw if isinstance(b, dict))
        elif isinstance(block, ToolCallBlock):
            call: dict[str, Any] = {
                "type": "tool_use",
                "id": block.id,
                "name": block.name,
                "input": block.input,
            }
            caller = (block.provider_data or {}).get("caller")
            if caller is not None:
                call["caller"] = caller
            calls.append(call)
    if not texts and not calls:
        return []  # a turn of bare thinking cannot stand alone; older thinking may be dropped
    return reasoning + texts + calls


# ----- wire -> neutral -----


@dataclass
class _Block:
    kind: str  # text | thinking | redacted_thinking | tool_use | server_tool_use | server_result
    text: str = ""
    signature: str | None = None
    data: str | None = None
    tool_id: str = ""
    tool_name: str = ""
    partial_json: list[str] = field(default_factory=list)
    caller: Any = None
    raw: dict[str, Any] | None = None  # server-tool blocks as received, for the echo
    citations: list[dict[str, Any]] = field(default_factory=list)


class _StreamState:
    """Assembles the assistant message from raw stream events."""

    def __init__(self) -> None:
        self.blocks: dict[int, _Block] = {}
        self.order: list[int] = []
        self.stop_reason: str | None = None
        self.finished = False
        self.usage = Usage()
        self.cited: list[Source] = []  # pages the text cites, filled by ``finish``

    def feed(self, event: Any) -> list[StreamEvent]:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            self._usage(getattr(event.message, "usage", None))
        elif kind == "content_block_start":
            return self._start(getattr(event, "index", -1), getattr(event, "content_block", None))
        elif kind == "content_block_delta":
            return self._delta(getattr(event, "index", -1), getattr(event, "delta", None))
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None) or self.stop_reason
            self._usage(getattr(event, "usage", None))
            self.finished = True
        elif kind == "message_stop":
            self.finished = True
        # content_block_stop needs no work: blocks are finalised together (some never stop).
        return []

    def _start(self, index: int, block: Any) -> list[StreamEvent]:
        btype = getattr(block, "type", None)
        out: list[StreamEvent] = []
        if btype == "text":
            state = _Block("text", text=getattr(block, "text", "") or "")
            state.citations.extend(_plain(c) for c in getattr(block, "citations", None) or [])
            if state.text:
                out.append(TextDelta(text=state.text))
        elif btype == "thinking":
            state = _Block(
                "thinking",
                text=getattr(block, "thinking", "") or "",
                signature=getattr(block, "signature", None) or None,
            )
            if state.text:
                out.append(ReasoningDelta(text=state.text))
        elif btype == "redacted_thinking":
            state = _Block("redacted_thinking", data=getattr(block, "data", None))
        elif btype == "tool_use":
            state = _Block(
                "tool_use",
                tool_id=block.id,
                tool_name=block.name,
                caller=_plain(getattr(block, "caller", None)),
            )
            out.append(ToolCallStarted(id=block.id, name=block.name))
        elif btype == "server_tool_use":
            # The vendor runs it; its input streams like a tool call's and is echoed back.
            state = _Block("server_tool_use", tool_id=getattr(block, "id", ""), raw=_plain(block))
        elif isinstance(btype, str) and btype.endswith("_tool_result") and btype != "tool_result":
            # web_search_tool_result (and other server tools' results): arrives whole.
            state = _Block("server_result", tool_id=getattr(block, "tool_use_id", ""))
            state.raw = _plain(block)
        else:
            return []  # unknown block types are not part of our neutral message
        self.blocks[index] = state
        self.order.append(index)
        return out

    def _delta(self, index: int, delta: Any) -> list[StreamEvent]:
        state = self.blocks.get(index)
        if state is None:
            return []
        dtype = getattr(delta, "type", None)
        if dtype == "text_delta" and state.kind == "text":
            piece = getattr(delta, "text", "") or ""
            state.text += piece
            return [TextDelta(text=piece)] if piece else []
        if dtype == "thinking_delta" and state.kind == "thinking":
            piece = getattr(delta, "thinking", "") or ""
            state.text += piece
            return [ReasoningDelta(text=piece)] if piece else []
        if dtype == "signature_delta" and state.kind == "thinking":
            state.signature = (state.signature or "") + (getattr(delta, "signature", "") or "")
        elif dtype == "input_json_delta" and state.kind in ("tool_use", "server_tool_use"):
            state.partial_json.append(getattr(delta, "partial_json", "") or "")
        elif dtype == "citations_delta" and state.kind == "text":
            citation = _plain(getattr(delta, "citation", None))
            if isinstance(citation, dict):
                state.citations.append(citation)
        return []

    def _usage(self, usage: Any) -> None:
        if usage is None:
            return
        # Fields are cumulative; absent (None) means "unchanged", so keep the last value seen.
        for wire, ours in (
            ("input_tokens", "input_tokens"),
            ("output_tokens", "output_tokens"),
            ("cache_read_input_tokens", "cache_read_tokens"),
            ("cache_creation_input_tokens", "cache_write_tokens"),
        ):
            value = getattr(usage, wire, None)
            if isinstance(value, int):
                setattr(self.usage, ours, value)
        details = getattr(usage, "output_tokens_details", None)
        thinking = getattr(details, "thinking_tokens", None)
        if isinstance(thinking, int):
            self.usage.reasoning_tokens = thinking

    def finish(self, provider: str) -> StreamDone:
        if not self.finished:
            raise ProviderError(
                "the response stream ended before the model finished",
                provider=provider,
                kind="connection",
                retryable=True,
            )
        content: list[Any] = []
        truncated = False
        # server_tool_use id -> its block and the raw blocks it echoes (use, then result)
        searches: dict[str, tuple[SourcesBlock, list[dict[str, Any]]]] = {}
        citations: list[dict[str, Any]] = []
        for index in self.order:
            state = self.blocks[index]
            if state.kind == "text" and state.text:
                content.append(TextBlock(text=state.text))
                citations.extend(state.citations)
            elif state.kind == "thinking":
                content.append(ReasoningBlock(text=state.text, signature=state.signature))
            elif state.kind == "redacted_thinking":
                content.append(ReasoningBlock(redacted_data=state.data))
            elif state.kind == "tool_use":
                parsed = parse_arguments("".join(state.partial_json))
                if parsed is None:
                    truncated = True  # cut by max_tokens: never run a half-written call
                    continue
                content.append(
                    ToolCallBlock(
                        id=state.tool_id,
                        name=state.tool_name,
                        input=parsed,
                        provider_data={"caller": state.caller} if state.caller else None,
                    )
                )
            elif state.kind == "server_tool_use":
                streamed = "".join(state.partial_json)
                given = (state.raw or {}).get("input")
                # Input comes as deltas, or already whole in the start block (no deltas).
                parsed = (
                    parse_arguments(streamed)
                    if streamed.strip() or not isinstance(given, dict)
                    else given
                )
                if parsed is None:
                    truncated = True  # a half-written search cannot be echoed back either
                    continue
                query = parsed.get("query")
                raw_blocks = [{**(state.raw or {}), "input": parsed}]
                block = SourcesBlock(
                    query=query if isinstance(query, str) else None,
                    provider_data={SERVER_BLOCKS: raw_blocks},
                )
                searches[state.tool_id] = (block, raw_blocks)
                content.append(block)
            elif state.kind == "server_result" and state.raw is not None:
                if state.tool_id not in searches:  # a result without its use: keep it anyway
                    raw_blocks = []
                    searches[state.tool_id] = (
                        SourcesBlock(provider_data={SERVER_BLOCKS: raw_blocks}),
                        raw_blocks,
                    )
                    content.append(searches[state.tool_id][0])
                block, raw_blocks = searches[state.tool_id]
                raw_blocks.append(state.raw)
                block.provider_data = {SERVER_BLOCKS: raw_blocks}
                block.sources.extend(_search_results(state.raw))
        self.cited = [c for c in map(_cited, citations) if c is not None]
        stop: StopReason = _STOP_REASONS.get(self.stop_reason or "", "other")
        if truncated:
            stop = "max_tokens"
        return StreamDone(
            message=Message(role="assistant", content=content), stop_reason=stop, usage=self.usage
        )


def _search_results(result: dict[str, Any]) -> list[Source]:
    """The pages of a ``web_search_tool_result`` (none for an error or another server tool)."""
    found = result.get("content")
    if not isinstance(found, list):
        if isinstance(found, dict) and found.get("error_code"):
            log.info("web search failed: %s", found.get("error_code"))
        return []
    return [
        Source(url=r["url"], title=r.get("title") or None)
        for r in found
        if isinstance(r, dict) and r.get("type") == "web_search_result" and r.get("url")
    ]


def _cited(citation: dict[str, Any]) -> Source | None:
    """The page a text citation points at (web search citations only)."""
    url = citation.get("url")
    if not isinstance(url, str) or not url:
        return None
    title, quoted = citation.get("title"), citation.get("cited_text")
    return Source(
        url=url,
        title=title if isinstance(title, str) and title else None,
        snippet=quoted if isinstance(quoted, str) and quoted else None,
    )


def _plain(value: Any) -> Any:
    """An SDK model as plain JSON data (for opaque fields echoed back verbatim)."""
    if value is None:
        return None
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", exclude_none=True) if callable(dump) else value
