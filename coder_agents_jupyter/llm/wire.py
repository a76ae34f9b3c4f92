"""Pieces every wire-protocol module shares: placeholders, image sniffing, tool arguments,
web-search citations, and the memo of messages' wire renderings."""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .types import ImageBlock, Message, Source, SourcesBlock, ToolResultBlock

_W = TypeVar("_W")
_rendered: dict[int, tuple[weakref.ref[Message], dict[str, Any]]] = {}


def rendered(message: Message, form: str, build: Callable[[Message], _W]) -> _W:
    """``build(message)``, computed once per message object and ``form`` (a protocol's
    rendering). Every step resends a chat's whole history, whose messages never change once
    built; the result is shared, so callers copy what they change. Kept while the message
    lives (not on the model itself: pydantic would compare and copy it)."""
    key = id(message)
    entry = _rendered.get(key)
    if entry is None or entry[0]() is not message:
        entry = (weakref.ref(message, lambda ref: _forget(key, ref)), {})
        _rendered[key] = entry
    forms = entry[1]
    if form not in forms:
        forms[form] = build(message)
    return forms[form]  # type: ignore[no-any-return]


def _forget(key: int, ref: weakref.ref[Message]) -> None:
    entry = _rendered.get(key)
    if entry is not None and entry[0] is ref:  # not a newer message that took the same id
        del _rendered[key]


IMAGE_UNAVAILABLE = "[image unavailable]"
EMPTY_TOOL_RESULT = "(no output)"


def guess_media_type(data: str) -> str:
    """The image type of base64 ``data`` from its magic bytes (PNG when unknown)."""
    for prefix, media_type in (
        ("/9j/", "image/jpeg"),
        ("R0lGOD", "image/gif"),
        ("UklGR", "image/webp"),
    ):
        if data.startswith(prefix):
            return media_type
    return "image/png"


def parse_arguments(raw: str) -> dict[str, Any] | None:
    """Streamed tool arguments: ``""`` is ``{}``; invalid JSON or a non-object is None."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def attach_citations(content: list[Any], citations: Iterable[Source]) -> None:
    """Merge the pages an answer cites into its ``SourcesBlock``s (searches).

    A cited page a search listed gets the quoted text as its snippet (and a title if it had
    none); one no search listed is added to the last search, or to a new block at the end, so
    every page the answer relies on is kept with it.
    """
    blocks = [b for b in content if isinstance(b, SourcesBlock)]
    for cited in citations:
        match = next((s for b in blocks for s in b.sources if s.url == cited.url), None)
        if match is not None:
            match.snippet = match.snippet or cited.snippet
            match.title = match.title or cited.title
            continue
        if not blocks:
            blocks.append(SourcesBlock())
            content.append(blocks[-1])
        blocks[-1].sources.append(cited.model_copy())


def result_text(block: ToolResultBlock) -> str:
    """A tool result for protocols with no error flag on results: the error said in the text."""
    text = block.content if block.content.strip() else EMPTY_TOOL_RESULT
    if block.is_error and not text.lower().startswith("error"):
        text = f"Error: {text}"
    return text


def data_url(block: ImageBlock) -> str | None:
    """The image as a ``data:`` URL (None when its bytes were not loaded)."""
    if not block.data:
        return None
    return f"data:{block.media_type or guess_media_type(block.data)};base64,{block.data}"


def user_message(parts: list[dict[str, Any]], text_type: str) -> dict[str, Any]:
    """An OpenAI-style user message: a plain string when every part is text (some compatible
    servers accept nothing else), else the parts."""
    if all(p["type"] == text_type for p in parts):
        return {"role": "user", "content": "\n\n".join(p["text"] for p in parts)}
    return {"role": "user", "content": parts}
