"""OpenAI Responses API (OpenAI, Azure OpenAI, compatible servers) through the official SDK.

Stateless: every call sends the whole conversation as ``input`` with ``store: false``, so nothing
lives on the vendor's side. Reasoning survives tool calls because each reasoning item comes back
with ``encrypted_content`` (asked for with ``include``) and is sent back verbatim in the next
request. Items are taken from ``response.output_item.done``: only there is ``encrypted_content``
complete (a live stream had 824 characters in ``.added`` and 3896 in ``.done``).

Items go back without their server ``id`` when ``store`` is false, as OpenAI's own Codex client
does: the vendor never stored them, and an id it cannot find is an error ("Item with id 'rs_...'
not found. Items are not persisted when `store` is set to false").

Provider-native web search (``ModelRequest.web_search``) is the built-in ``web_search`` tool: each
``web_search_call`` item becomes a ``SourcesBlock`` (the pages come with ``include`` of
``web_search_call.action.sources``; the answer's ``url_citation`` annotations add titles and the
quoted text) that keeps the item, sent back like reasoning items.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import openai

from ..errors import ProviderError
from .errors import map_provider_errors
from .openai_chat import new_call_id
from .openai_client import AzureConfig, make_openai_client
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
    IMAGE_UNAVAILABLE,
    attach_citations,
    data_url,
    parse_arguments,
    result_text,
    user_message,
)

log = logging.getLogger(__name__)

# provider_data keys: the whole reasoning (or web_search_call) item as received, and a function
# call's item id.
REASONING_ITEM = "openai_item"
SEARCH_ITEM = "openai_item"
CALL_ITEM_ID = "openai_item_id"
# The built-in tool, and the ``include`` that lists every page a search found (not only cited).
WEB_SEARCH_TOOL: dict[str, Any] = {"type": "web_search"}
SEARCH_SOURCES = "web_search_call.action.sources"

# The API's effort names; ours map onto them ("max" is the strongest level of every provider).
_EFFORTS = {"none", "minimal", "low", "medium", "high", "xhigh"}
_EFFORT_ALIASES = {"max": "xhigh", "off": "none", "disabled": "none"}
_INCOMPLETE_REASONS: dict[str, StopReason] = {
    "max_output_tokens": "max_tokens",
    "content_filter": "content_filter",
}


class OpenAIResponsesProvider:
    """One Responses API endpoint: OpenAI, a compatible server, or an Azure resource (``azure``).

    ``encrypted_reasoning`` asks for ``reasoning.encrypted_content``: None (default) does so when
    the request sets a reasoning effort, since models without reasoning reject the ``include``.
    """

    def __init__(
        self,
        name: str,
        api_key: str,
        base_url: str | None = None,
        headers: dict[str, str] | None = None,
        max_retries: int = 2,
        timeout: float = 600.0,
        store: bool = False,
        azure: AzureConfig | None = None,
        encrypted_reasoning: bool | None = None,
    ) -> None:
        self.name = name
        self._api_key = api_key
        self.store = store
        self.encrypted_reasoning = encrypted_reasoning
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
        params = build_params(
            request, store=self.store, encrypted_reasoning=self.encrypted_reasoning
        )
        state = _StreamState()
        async with map_provider_errors(self.name, secrets=(self._api_key,)):
            events = await self._client.responses.create(**params, stream=True)
            async with events:
                async for event in events:
                    for out in state.feed(event):
                        yield out
                    if state.failure is not None:
                        # A failure event inside a 200 stream: raised as the SDK raises an
                        # in-stream error chunk, so one mapping classifies both.
                        message = _text(state.failure.get("message")) or "the response failed"
                        http_request = events.response.request
                        raise openai.APIError(message, http_request, body=state.failure)
        yield state.finish(self.name)


# ----- neutral -> wire -----


def build_params(
    request: ModelRequest,
    *,
    store: bool = False,
    encrypted_reasoning: bool | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``responses.create`` for ``request`` (without ``stream``)."""
    params: dict[str, Any] = {
        "model": request.model,
        "input": to_wire_input(request.messages, store=store, web_search=request.web_search),
        "max_output_tokens": request.max_output_tokens,
        "store": store,
    }
    if request.system.strip():
        params["instructions"] = request.system
    tools: list[dict[str, Any]] = [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters,
        }
        for t in request.tools
    ]
    if request.web_search:
        tools.append(dict(WEB_SEARCH_TOOL))
    if tools:
        params["tools"] = tools
    effort = reasoning_effort(request.reasoning_effort)
    if effort is not None:
        params["reasoning"] = {"effort": effort}
        if effort != "none":
            params["reasoning"]["summary"] = "auto"
    wants_encrypted = (
        encrypted_reasoning if encrypted_reasoning is not None else effort not in (None, "none")
    )
    include = ["reasoning.encrypted_content"] if wants_encrypted else []
    if request.web_search:
        include.append(SEARCH_SOURCES)
    if include:
        params["include"] = include
    if request.temperature is not None:
        params["temperature"] = request.temperature
    return params


def reasoning_effort(effort: str | None) -> str | None:
    """The API's ``reasoning.effort`` for ours, or None to leave reasoning at the model default."""
    if not effort:
        return None
    effort = _EFFORT_ALIASES.get(effort, effort)
    if effort not in _EFFORTS:
        log.warning("unknown reasoning effort %r for the Responses API; left unset", effort)
        return None
    return effort


def to_wire_input(
    messages: Iterable[Message], *, store: bool = False, web_search: bool = True
) -> list[dict[str, Any]]:
    """The ``input`` list: user messages, the assistant's items in order, tool outputs.

    ``web_search`` sends earlier searches (their ``web_search_call`` items) back; without it (web
    search now off) they are left out rather than referring to a tool the request lacks.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            out.extend(_assistant_items(message, store=store, web_search=web_search))
            continue
        for block in message.content:
            if isinstance(block, ToolResultBlock):
                out.append(
                    {
                        "type": "function_call_output",
                        "call_id": block.tool_call_id,
                        "output": result_text(block),
                    }
                )
        # Text and images next to tool results (e.g. a screenshot a tool produced) follow them
        # as a user message, the form every Responses-compatible server accepts.
        parts = _user_parts(message)
        if parts:
            out.append(user_message(parts, "input_text"))
    return out


def _user_parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, TextBlock) and block.text.strip():
            parts.append({"type": "input_text", "text": block.text})
        elif isinstance(block, ImageBlock):
            url = data_url(block)
            if url:
                # ``image_url`` is a plain string here, an object in Chat Completions.
                parts.append({"type": "input_image", "image_url": url, "detail": "auto"})
            else:
                parts.append({"type": "input_text", "text": IMAGE_UNAVAILABLE})
    return parts


def _assistant_items(
    message: Message, *, store: bool, web_search: bool = True
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    texts: list[str] = []

    def flush_text() -> None:
        if texts:
            items.append({"role": "assistant", "content": "".join(texts)})
            texts.clear()

    for block in message.content:
        if isinstance(block, TextBlock):
            if block.text.strip():
                texts.append(block.text)
            continue
        if isinstance(block, ReasoningBlock | SourcesBlock):
            if isinstance(block, ReasoningBlock):
                item = _reasoning_item(block, store=store)
            else:
                item = _search_item(block, store=store) if web_search else None
            if item is None:
                continue
            flush_text()
            items.append(item)
        elif isinstance(block, ToolCallBlock):
            flush_text()
            call: dict[str, Any] = {
                "type": "function_call",
                "call_id": block.id,
                "name": block.name,
                "arguments": json.dumps(block.input),
            }
            item_id = (block.provider_data or {}).get(CALL_ITEM_ID)
            if store and item_id:
                call["id"] = item_id
            items.append(call)
    flush_text()
    if all(item.get("type") in ("reasoning", "web_search_call") for item in items):
        return []  # reasoning must be followed by the item it led to; a bare one is rejected
    return items


def _search_item(block: SourcesBlock, *, store: bool) -> dict[str, Any] | None:
    """The ``web_search_call`` item to send back (another provider's search has none)."""
    item = (block.provider_data or {}).get(SEARCH_ITEM)
    if not isinstance(item, dict) or item.get("type") != "web_search_call":
        return None
    return dict(item) if store else {k: v for k, v in item.items() if k != "id"}


def _reasoning_item(block: ReasoningBlock, *, store: bool) -> dict[str, Any] | None:
    """The reasoning item to send back, or None when it cannot go back.

    Reasoning of other providers (Anthropic signatures, OpenRouter details) has no item. Without
    ``encrypted_content`` the item is only a reference to the vendor's store: useless when
    nothing was stored.
    """
    item = (block.provider_data or {}).get(REASONING_ITEM)
    if not isinstance(item, dict):
        return None
    if store:
        return dict(item)
    if not item.get("encrypted_content"):
        return None
    return {k: v for k, v in item.items() if k != "id"}


# ----- wire -> neutral -----


@dataclass
class _Item:
    """One output item while it streams; ``done`` replaces the partial view when it arrives."""

    kind: str  # message | reasoning | function_call | other
    item_id: str = ""
    text: list[str] = field(default_factory=list)
    refusal: bool = False
    arguments: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""
    started: bool = False
    summary_index: int = 0
    done: dict[str, Any] | None = None


class _StreamState:
    """Assembles the assistant message from Responses stream events."""

    def __init__(self) -> None:
        self.items: dict[int, _Item] = {}
        self.by_id: dict[str, _Item] = {}
        self.terminal: str | None = None
        self.incomplete_reason: str | None = None
        self.failure: dict[str, Any] | None = None
        self.usage = Usage()

    def feed(self, event: Any) -> list[StreamEvent]:
        kind = getattr(event, "type", None)
        if kind == "response.output_item.added":
            return self._added(getattr(event, "output_index", None), getattr(event, "item", None))
        if kind == "response.output_item.done":
            return self._done(getattr(event, "output_index", None), getattr(event, "item", None))
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            item = self._item(event, "message")
            piece = getattr(event, "delta", "") or ""
            item.refusal = item.refusal or kind == "response.refusal.delta"
            item.text.append(piece)
            return [TextDelta(text=piece)] if piece else []
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._reasoning_delta(event)
        if kind == "response.function_call_arguments.delta":
            self._item(event, "function_call").arguments.append(getattr(event, "delta", "") or "")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._terminal(kind, getattr(event, "response", None))
        elif kind == "error":
            # The flat shape of the SDK's type; the nested one already raised in the SDK.
            self.failure = _error_body(event)
        return []

    def _item(self, event: Any, kind: str) -> _Item:
        """The item an event belongs to (by id, else by output index), created if unseen."""
        item_id = getattr(event, "item_id", None) or ""
        item = self.by_id.get(item_id)
        if item is None:
            index = getattr(event, "output_index", None)
            index = index if isinstance(index, int) else len(self.items)
            item = self.items.setdefault(index, _Item(kind, item_id=item_id))
            if item_id:
                self.by_id[item_id] = item
        return item

    def _added(self, index: Any, wire: Any) -> list[StreamEvent]:
        if wire is None:
            return []
        item = self._register(index, wire)
        if item.kind == "function_call":
            item.call_id = item.call_id or getattr(wire, "call_id", None) or ""
            item.name = item.name or getattr(wire, "name", None) or ""
            return self._start_call(item)
        return []

    def _done(self, index: Any, wire: Any) -> list[StreamEvent]:
        if wire is None:
            return []
        item = self._register(index, wire)
        item.done = _plain(wire)
        if item.kind == "function_call":
            item.call_id = item.done.get("call_id") or item.call_id
            item.name = item.done.get("name") or item.name
            return self._start_call(item)  # a server that skipped ``.added``
        return []

    def _register(self, index: Any, wire: Any) -> _Item:
        kind = getattr(wire, "type", None)
        known = ("message", "reasoning", "function_call", "web_search_call")
        kind = kind if kind in known else "other"
        item_id = getattr(wire, "id", None) or ""
        item = self.by_id.get(item_id) if item_id else None
        if item is None:
            index = index if isinstance(index, int) else len(self.items)
            item = self.items.setdefault(index, _Item(kind, item_id=item_id))
            if item_id:
                self.by_id[item_id] = item
        item.kind = kind
        return item

    def _start_call(self, item: _Item) -> list[StreamEvent]:
        if item.started or not item.name:
            return []
        item.started = True
        if not item.call_id:
            item.call_id = new_call_id()  # compatible servers may leave it out
        return [ToolCallStarted(id=item.call_id, name=item.name)]

    def _reasoning_delta(self, event: Any) -> list[StreamEvent]:
        item = self._item(event, "reasoning")
        piece = getattr(event, "delta", "") or ""
        out: list[StreamEvent] = []
        index = getattr(event, "summary_index", None)
        if isinstance(index, int) and index != item.summary_index:
            # A new summary part: the block text separates parts with a blank line.
            item.summary_index = index
            if item.text:
                item.text.append("\n\n")
                out.append(ReasoningDelta(text="\n\n"))
        if piece:
            item.text.append(piece)
            out.append(ReasoningDelta(text=piece))
        return out

    def _terminal(self, kind: str, response: Any) -> None:
        self.terminal = kind
        details = getattr(response, "incomplete_details", None)
        self.incomplete_reason = getattr(details, "reason", None)
        if kind == "response.failed":
            error = _plain(getattr(response, "error", None)) or {}
            self.failure = error or {"message": "the response failed"}
        usage = getattr(response, "usage", None)
        if usage is None:
            return
        total = getattr(usage, "input_tokens", None) or 0
        in_details = getattr(usage, "input_tokens_details", None)
        cached = getattr(in_details, "cached_tokens", None) or 0
        written = getattr(in_details, "cache_write_tokens", None) or 0
        out_details = getattr(usage, "output_tokens_details", None)
        self.usage = Usage(
            input_tokens=max(0, total - cached - written),
            output_tokens=getattr(usage, "output_tokens", None) or 0,
            cache_read_tokens=cached,
            cache_write_tokens=written,
            reasoning_tokens=getattr(out_details, "reasoning_tokens", None) or 0,
        )

    def finish(self, provider: str) -> StreamDone:
        if self.terminal is None:
            raise ProviderError(
                "the response stream ended before the model finished",
                provider=provider,
                kind="connection",
                retryable=True,
            )
        content: list[Any] = []
        citations: list[Source] = []
        truncated = refused = False
        for index in sorted(self.items):
            item = self.items[index]
            if item.kind == "reasoning":
                content.append(_reasoning_block(item))
            elif item.kind == "web_search_call":
                if item.done is not None:  # only the finished item says what was searched
                    content.append(_search_block(item.done))
            elif item.kind == "message":
                citations.extend(_citations(item))
                text = _message_text(item)
                refused = refused or item.refusal
                if text:
                    if content and isinstance(content[-1], TextBlock):
                        content[-1] = TextBlock(text=content[-1].text + text)
                    else:
                        content.append(TextBlock(text=text))
            elif item.kind == "function_call":
                block = _call_block(item)
                if block is None:
                    truncated = True  # cut off mid-arguments: never run a half-written call
                else:
                    content.append(block)
        attach_citations(content, citations)
        stop: StopReason
        if self.terminal == "response.incomplete":
            stop = _INCOMPLETE_REASONS.get(self.incomplete_reason or "", "other")
        elif any(isinstance(b, ToolCallBlock) for b in content):
            stop = "tool_use"
        else:
            stop = "refusal" if refused else "end_turn"
        if truncated:
            stop = "max_tokens"
        return StreamDone(
            message=Message(role="assistant", content=content), stop_reason=stop, usage=self.usage
        )


def _reasoning_block(item: _Item) -> ReasoningBlock:
    done = item.done
    if done is None:  # the stream ended inside the item: show what streamed, keep nothing opaque
        return ReasoningBlock(text="".join(item.text))
    parts = done.get("summary") or done.get("content") or []
    texts = [p.get("text", "") for p in parts if isinstance(p, dict)]
    text = "\n\n".join(t for t in texts if t) or "".join(item.text)
    return ReasoningBlock(text=text, provider_data={REASONING_ITEM: done})


def _search_block(item: dict[str, Any]) -> SourcesBlock:
    """A finished ``web_search_call``: its query and the pages it found or opened."""
    action = item.get("action") if isinstance(item.get("action"), dict) else {}
    query = action.get("query")
    queries = action.get("queries")
    if not isinstance(query, str) and isinstance(queries, list) and queries:
        query = "; ".join(q for q in queries if isinstance(q, str))
    urls = [s.get("url") for s in action.get("sources") or [] if isinstance(s, dict)]
    if isinstance(action.get("url"), str):  # open_page / find_in_page
        urls.append(action["url"])
    seen: dict[str, Source] = {}
    for url in urls:
        if isinstance(url, str) and url and url not in seen:
            seen[url] = Source(url=url)
    return SourcesBlock(
        query=query if isinstance(query, str) and query else None,
        sources=list(seen.values()),
        provider_data={SEARCH_ITEM: item},
    )


def _citations(item: _Item) -> list[Source]:
    """The ``url_citation`` annotations of a finished message, with the text they cover."""
    found: list[Source] = []
    parts = (item.done or {}).get("content") or []
    for part in parts:
        if not isinstance(part, dict):
            continue
        text = part.get("text") if isinstance(part.get("text"), str) else ""
        for note in part.get("annotations") or []:
            if not isinstance(note, dict) or note.get("type") != "url_citation":
                continue
            url = note.get("url")
            if not isinstance(url, str) or not url:
                continue
            start, end = note.get("start_index"), note.get("end_index")
            quoted = text[start:end] if isinstance(start, int) and isinstance(end, int) else ""
            title = note.get("title")
            found.append(
                Source(
                    url=url,
                    title=title if isinstance(title, str) and title else None,
                    snippet=quoted.strip() or None,
                )
            )
    return found


def _message_text(item: _Item) -> str:
    if item.done is None:
        return "".join(item.text)
    parts = item.done.get("content") or []
    texts = [p.get("text") or p.get("refusal") or "" for p in parts if isinstance(p, dict)]
    item.refusal = item.refusal or any(
        isinstance(p, dict) and p.get("type") == "refusal" for p in parts
    )
    return "".join(texts)


def _call_block(item: _Item) -> ToolCallBlock | None:
    raw = "".join(item.arguments)
    if item.done is not None and isinstance(item.done.get("arguments"), str):
        raw = item.done["arguments"]
    parsed = parse_arguments(raw)
    if parsed is None or not item.name:
        return None
    return ToolCallBlock(
        id=item.call_id or new_call_id(),
        name=item.name,
        input=parsed,
        provider_data={CALL_ITEM_ID: item.item_id} if item.item_id else None,
    )


def _error_body(event: Any) -> dict[str, Any]:
    """``{code, message, param, type}`` of an ``error`` event, flat or nested."""
    data = _plain(event) or {}
    nested = data.get("error")
    if isinstance(nested, dict):
        return nested
    return {k: v for k, v in data.items() if k in ("code", "message", "param") and v is not None}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _plain(value: Any) -> dict[str, Any] | None:
    """An SDK model as the JSON the vendor sent (unset fields left out), for verbatim echoes."""
    if value is None:
        return None
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return value if isinstance(value, dict) else None
