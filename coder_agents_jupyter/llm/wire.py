"""Pieces every wire-protocol module shares: placeholders, image sniffing, tool arguments."""

from __future__ import annotations

import json
from typing import Any

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
