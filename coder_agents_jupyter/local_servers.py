"""Find a local OpenAI-compatible server (Ollama, vLLM) when no provider is configured."""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)

CANDIDATES = [("ollama", "http://127.0.0.1:11434/v1"), ("vllm", "http://127.0.0.1:8000/v1")]


def discover(timeout: float = 0.3) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(providers, models) for every local server answering ``GET /models``."""
    providers: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    for name, url in CANDIDATES:
        try:
            resp = httpx.get(f"{url}/models", timeout=timeout)
            ids = [m["id"] for m in resp.json().get("data", []) if isinstance(m, dict)]
        except (httpx.HTTPError, ValueError, KeyError, AttributeError):
            continue
        if not ids:
            continue
        log.info("found a local %s server at %s with %d models", name, url, len(ids))
        providers.append(
            {"name": name, "type": "openai-compatible", "base_url": url, "api_key_optional": True}
        )
        models += [
            {
                "id": f"{name}/{mid}",
                "model": mid,
                "provider": name,
                "display_name": f"{mid} ({name})",
                "context_window": 32_768,
                "supports_images": False,
                "default": not models and i == 0,
            }
            for i, mid in enumerate(ids)
        ]
    return providers, models
