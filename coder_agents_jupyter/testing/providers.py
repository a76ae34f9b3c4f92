"""Admin provider configs that point every provider type at the fake vendor."""

from __future__ import annotations

from typing import Any

# kind -> provider settings; "path" is appended to the fake's base URL.
PROVIDER_KINDS: dict[str, dict[str, Any]] = {
    "anthropic": {"type": "anthropic"},
    "openai-chat": {"type": "openai-compatible", "path": "/v1"},
    "openai": {"type": "openai", "path": "/v1"},
    "azure-openai-v1": {"type": "azure-openai", "path": "/openai/v1/"},
    "azure-openai-classic": {"type": "azure-openai", "api_version": "2025-04-01-preview"},
    "azure-openai-chat": {
        "type": "azure-openai",
        "api": "chat",
        "api_version": "2024-10-21",
        "deployment": "fake-deployment",
    },
    "gemini": {"type": "gemini", "path": "/v1"},
    "openrouter": {"type": "openrouter", "path": "/v1"},
    "vercel": {"type": "vercel", "path": "/v1"},
    "bedrock": {"type": "bedrock", "region": "us-east-1"},
}


def fake_provider_config(
    base_url: str, kind: str, *, name: str = "fake", api_key_env: str = "FAKE_KEY"
) -> dict[str, Any]:
    """``c.CoderAgents.providers[i]`` for provider type ``kind``, served by the fake vendor."""
    spec = dict(PROVIDER_KINDS[kind])
    path = spec.pop("path", "")
    return {"name": name, "base_url": base_url + path, "api_key_env": api_key_env, **spec}
