"""Anthropic Messages API through the official ``anthropic`` SDK, streaming raw events.

Raw events (``messages.create(stream=True)``) rather than the SDK's stream helper: the helper
re-parses partial tool JSON on every delta and raises on input cut by ``max_tokens``, while here a
truncated tool call is simply left out and reported as ``stop_reason="max_tokens"``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import anthropic

from ..errors import ProviderError
from .errors import map_provider_errors
from .types import (
    ImageBlock,
    Message,
    ModelRequest,
    ReasoningBlock,
    ReasoningDelta,
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
from .wire import EMPTY_TOOL_RESULT, IMAGE_UNAVAILABLE, guess_media_type, parse_arguments

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


class AnthropicProvider:
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
        self.name = name
        self._api_key = api_key
        self.prompt_caching = prompt_caching
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            default_headers=headers,
            max_retries=max_retries,
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        params = build_params(request, prompt_caching=self.prompt_caching)
        state = _StreamState()
        async with map_provider_errors(self.name, secrets=(self._api_key,)):
            events = await self._client.messages.create(**params, stream=True)
            async with events:
                async for event in events:
                    for out in state.feed(event):
                        yield out
        yield state.finish(self.name)


# ----- neutral -> wire -----


def build_params(request: ModelRequest, *, prompt_caching: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``messages.create`` for ``request`` (without ``stream``)."""
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_output_tokens,
        "messages": to_wire_messages(request.messages),
    }
    if request.system.strip():
        system: dict[str, Any] = {"type": "text", "text": request.system}
        if prompt_caching:
            system["cache_control"] = {"type": "ephemeral"}
        params["system"] = [system]
    if request.tools:
        params["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
    thinking = thinking_config(request.reasoning_effort, request.max_output_tokens)
    if thinking is not None:
        params["thinking"] = thinking
    elif request.temperature is not None:
        # With thinking enabled the API rejects any temperature other than the default.
        params["temperature"] = request.temperature
    if prompt_caching and params["messages"]:
        # Second breakpoint on the newest block: each turn re-reads the previous turn's prefix.
        last = params["messages"][-1]["content"][-1]
        if last.get("type") in ("text", "image", "tool_result", "tool_use"):
            last["cache_control"] = {"type": "ephemeral"}
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


def to_wire_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Anthropic ``messages``: tool results as user turns, same-role turns merged."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            role, blocks = "assistant", _assistant_blocks(message)
        else:
            role, blocks = "user", _user_blocks(message)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for turn in out:
        if turn["role"] == "user":
            # The API wants tool_result blocks at the start of the user turn.
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return out


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


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    reasoning: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
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
    kind: str  # text | thinking | redacted_thinking | tool_use
    text: str = ""
    signature: str | None = None
    data: str | None = None
    tool_id: str = ""
    tool_name: str = ""
    partial_json: list[str] = field(default_factory=list)
    caller: Any = None


class _StreamState:
    """Assembles the assistant message from raw stream events."""

    def __init__(self) -> None:
        self.blocks: dict[int, _Block] = {}
        self.order: list[int] = []
        self.stop_reason: str | None = None
        self.finished = False
        self.usage = Usage()

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
        else:
            return []  # server tools, citations sources...: not part of our neutral message
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
        elif dtype == "input_json_delta" and state.kind == "tool_use":
            state.partial_json.append(getattr(delta, "partial_json", "") or "")
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
        for index in self.order:
            state = self.blocks[index]
            if state.kind == "text" and state.text:
                content.append(TextBlock(text=state.text))
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
        stop: StopReason = _STOP_REASONS.get(self.stop_reason or "", "other")
        if truncated:
            stop = "max_tokens"
        return StreamDone(
            message=Message(role="assistant", content=content), stop_reason=stop, usage=self.usage
        )


def _plain(value: Any) -> Any:
    """An SDK model as plain JSON data (for opaque fields echoed back verbatim)."""
    if value is None:
        return None
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", exclude_none=True) if callable(dump) else value
