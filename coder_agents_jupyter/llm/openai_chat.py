"""OpenAI Chat Completions (and every compatible server) through the official ``openai`` SDK.

Used for OpenAI-compatible endpoints: vLLM, Ollama, OpenRouter, Gemini's OpenAI endpoint, Azure v1,
Vercel AI Gateway. Their non-standard stream fields (``reasoning_content``, ``reasoning``,
``reasoning_details``, Gemini's ``extra_content``) are read from the SDK models' extras.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ProviderError
from .errors import map_provider_errors
from .openai_client import AzureConfig, make_openai_client
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
from .wire import (
    IMAGE_UNAVAILABLE,
    data_url,
    parse_arguments,
    rendered,
    result_text,
    user_message,
)

log = logging.getLogger(__name__)

_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}
# Non-standard reasoning text fields of compatible servers, in order of preference.
_REASONING_FIELDS = ("reasoning_content", "reasoning")


class OpenAIChatProvider:
    """One Chat Completions endpoint. ``base_url`` includes the ``/v1`` part; ``azure`` replaces it
    for an Azure OpenAI resource (see ``openai_client.AzureConfig``)."""

    def __init__(
        self,
        name: str,
        api_key: str,
        base_url: str | None = None,
        headers: dict[str, str] | None = None,
        max_retries: int = 2,
        timeout: float = 600.0,
        include_usage: bool = True,
        max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        azure: AzureConfig | None = None,
    ) -> None:
        self.name = name
        self._api_key = api_key
        # Some compatible servers reject ``stream_options``; some only know ``max_tokens``.
        self.include_usage = include_usage
        self.max_tokens_param = max_tokens_param
        self._warned_web_search = False
        self._client = make_openai_client(
            api_key=api_key,
            base_url=base_url,
            headers=headers,
            max_retries=max_retries,
            timeout=timeout,
            azure=azure,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        if request.web_search and not self._warned_web_search:
            # Chat Completions has no portable built-in web search: answer without (once said).
            self._warned_web_search = True
            log.info("%s: web search is not supported over Chat Completions; ignored", self.name)
        params = build_params(
            request, include_usage=self.include_usage, max_tokens_param=self.max_tokens_param
        )
        state = _StreamState()
        async with map_provider_errors(self.name, secrets=(self._api_key,)):
            chunks = await self._client.chat.completions.create(**params, stream=True)
            async with chunks:
                async for chunk in chunks:
                    for out in state.feed(chunk):
                        yield out
        yield state.finish(self.name)


# ----- neutral -> wire -----


def build_params(
    request: ModelRequest,
    *,
    include_usage: bool = True,
    max_tokens_param: str = "max_completion_tokens",
) -> dict[str, Any]:
    """Keyword arguments of ``chat.completions.create`` for ``request`` (without ``stream``)."""
    messages: list[dict[str, Any]] = []
    if request.system.strip():
        messages.append({"role": "system", "content": request.system})
    messages.extend(to_wire_messages(request.messages))
    params: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        max_tokens_param: request.max_output_tokens,
    }
    if include_usage:
        params["stream_options"] = {"include_usage": True}
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.reasoning_effort:
        params["reasoning_effort"] = request.reasoning_effort
    return params


def to_wire_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Chat messages: one ``tool`` message per result; images after results go in a user turn."""
    out: list[dict[str, Any]] = []
    for message in messages:
        out.extend(rendered(message, "openai-chat", _message_wire))
    return out


def _message_wire(message: Message) -> list[dict[str, Any]]:
    if message.role == "assistant":
        wire = _assistant(message)
        return [] if wire is None else [wire]
    out: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            out.append(
                {"role": "tool", "tool_call_id": block.tool_call_id, "content": result_text(block)}
            )
    parts = _user_parts(message)
    if parts:
        out.append(user_message(parts, "text"))
    return out


def _user_parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, TextBlock) and block.text.strip():
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            url = data_url(block)
            if url:
                parts.append({"type": "image_url", "image_url": {"url": url}})
            else:
                parts.append({"type": "text", "text": IMAGE_UNAVAILABLE})
    return parts


def _assistant(message: Message) -> dict[str, Any] | None:
    text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
    calls = []
    for block in message.tool_calls():
        call: dict[str, Any] = {
            "id": block.id,
            "type": "function",
            "function": {"name": block.name, "arguments": json.dumps(block.input)},
        }
        extra = (block.provider_data or {}).get("extra_content")
        if extra is not None:
            call["extra_content"] = extra  # Gemini: thought_signature must come back
        calls.append(call)
    if not text.strip() and not calls:
        return None
    wire: dict[str, Any] = {"role": "assistant", "content": text if text.strip() else None}
    if calls:
        wire["tool_calls"] = calls
    details = [
        d
        for b in message.content
        if isinstance(b, ReasoningBlock) and b.provider_data
        for d in b.provider_data.get("reasoning_details", [])
    ]
    if details:
        wire["reasoning_details"] = details  # OpenRouter: keeps upstream thinking signatures
    return wire


# ----- wire -> neutral -----


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    extra: dict[str, Any] | None = None
    started: bool = False


class _StreamState:
    """Assembles the assistant message from chunks (usage-only and choice-less chunks too)."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.reasoning_details: dict[int, dict[str, Any]] = {}
        self.refused = False
        self.calls: dict[int, _Call] = {}
        self.finish_reason: str | None = None
        self.saw_choice = False
        self.usage = Usage()

    def feed(self, chunk: Any) -> list[StreamEvent]:
        if getattr(chunk, "usage", None) is not None:
            self._usage(chunk.usage)
        out: list[StreamEvent] = []
        for choice in getattr(chunk, "choices", None) or []:
            if (getattr(choice, "index", 0) or 0) != 0:
                continue  # n > 1 is never requested
            self.saw_choice = True
            finish = getattr(choice, "finish_reason", None)
            if finish:
                # OpenRouter repeats chunks after the finish with finish_reason null: keep it.
                self.finish_reason = finish
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            extra = getattr(delta, "model_extra", None) or {}
            for name in _REASONING_FIELDS:
                piece = extra.get(name)
                if isinstance(piece, str) and piece:
                    self.reasoning.append(piece)
                    out.append(ReasoningDelta(text=piece))
                    break
            self._reasoning_details(extra.get("reasoning_details"))
            content = getattr(delta, "content", None)
            if isinstance(content, str) and content:
                self.text.append(content)
                out.append(TextDelta(text=content))
            refusal = getattr(delta, "refusal", None)
            if isinstance(refusal, str) and refusal:
                self.refused = True
                self.text.append(refusal)
                out.append(TextDelta(text=refusal))
            for fragment in getattr(delta, "tool_calls", None) or []:
                out.extend(self._tool_fragment(fragment))
        return out

    def _tool_fragment(self, fragment: Any) -> list[StreamEvent]:
        index = getattr(fragment, "index", None)
        call = self.calls.setdefault(index if isinstance(index, int) else 0, _Call())
        call_id = getattr(fragment, "id", None)
        if call_id and not call.started:
            call.id = call_id
        function = getattr(fragment, "function", None)
        if function is not None:
            name = getattr(function, "name", None)
            if name and not call.name:
                call.name = name
            arguments = getattr(function, "arguments", None)
            if isinstance(arguments, str) and arguments:
                call.arguments.append(arguments)
        extra = (getattr(fragment, "model_extra", None) or {}).get("extra_content")
        if extra is not None:
            call.extra = extra
        if call.name and not call.started:
            call.started = True
            if not call.id:
                call.id = new_call_id()  # Gemini sends "" ids; ours must be unique
            return [ToolCallStarted(id=call.id, name=call.name)]
        return []

    def _reasoning_details(self, details: Any) -> None:
        """OpenRouter ``reasoning_details``: text fragments and signatures, merged by index."""
        if not isinstance(details, list):
            return
        for item in details:
            if not isinstance(item, dict):
                continue
            index = item.get("index", 0) if isinstance(item.get("index"), int) else 0
            merged = self.reasoning_details.setdefault(index, {})
            for key, value in item.items():
                if key == "text":
                    if isinstance(value, str):
                        merged["text"] = merged.get("text", "") + value
                elif value not in (None, "") or key not in merged:
                    merged[key] = value

    def _usage(self, usage: Any) -> None:
        prompt = getattr(usage, "prompt_tokens", None) or 0
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None) or 0
        details = getattr(usage, "completion_tokens_details", None)
        self.usage = Usage(
            input_tokens=max(0, prompt - cached),
            output_tokens=getattr(usage, "completion_tokens", None) or 0,
            cache_read_tokens=cached,
            reasoning_tokens=getattr(details, "reasoning_tokens", None) or 0,
        )

    def finish(self, provider: str) -> StreamDone:
        if not self.saw_choice and self.finish_reason is None:
            raise ProviderError(
                "the provider's response stream was empty",
                provider=provider,
                kind="connection",
                retryable=True,
            )
        content: list[Any] = []
        if self.reasoning or self.reasoning_details:
            details = [self.reasoning_details[i] for i in sorted(self.reasoning_details)]
            # Only an Anthropic-format signature may later go to Anthropic directly; others stay
            # opaque in provider_data (a foreign signature there is a 400).
            signature = next(
                (
                    d["signature"]
                    for d in details
                    if d.get("signature") and str(d.get("format", "")).startswith("anthropic")
                ),
                None,
            )
            text = "".join(self.reasoning) or "".join(d.get("text", "") for d in details)
            content.append(
                ReasoningBlock(
                    text=text,
                    signature=signature,
                    provider_data={"reasoning_details": details} if details else None,
                )
            )
        text = "".join(self.text)
        if text:
            content.append(TextBlock(text=text))
        truncated = False
        for index in sorted(self.calls):
            call = self.calls[index]
            parsed = parse_arguments("".join(call.arguments))
            if parsed is None or not call.name:
                truncated = True  # cut off mid-arguments: never run a half-written call
                continue
            content.append(
                ToolCallBlock(
                    id=call.id or new_call_id(),
                    name=call.name,
                    input=parsed,
                    provider_data={"extra_content": call.extra} if call.extra else None,
                )
            )
        stop: StopReason
        if self.finish_reason is None:
            # Some servers never send a finish_reason; infer it from what arrived.
            stop = "tool_use" if any(isinstance(b, ToolCallBlock) for b in content) else "end_turn"
        else:
            stop = _FINISH_REASONS.get(self.finish_reason, "other")
        if self.refused and stop == "end_turn":
            stop = "refusal"
        if truncated:
            stop = "max_tokens"
        return StreamDone(
            message=Message(role="assistant", content=content), stop_reason=stop, usage=self.usage
        )


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"
