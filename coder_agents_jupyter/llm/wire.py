"""Pieces every wire-protocol module shares: placeholders, image sniffing, tool arguments,
web-search citations."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .types import ImageBlock, Source, SourcesBlock, ToolResultBlock

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
