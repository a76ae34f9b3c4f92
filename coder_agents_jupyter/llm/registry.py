"""Build provider clients from settings: the provider type picks the wire protocol.

The SDKs' own retries are off (``max_retries=0``): ``llm.retry`` retries with the admin's
policy and tells users about each retry.
"""

from __future__ import annotations

from ..errors import ProviderError
from ..settings import DEFAULT_BASE_URLS, PROVIDER_PROTOCOL, Settings
from .base import Provider


def make_provider(settings: Settings, name: str) -> Provider:
    """A client for provider ``name``; its key comes from ``settings.secrets`` only."""
    cfg = next((p for p in settings.providers if p.name == name), None)
    if cfg is None:
        raise ProviderError(f"provider {name!r} is not configured", provider=name, kind="config")
    key = settings.secrets.get(name)
    if key is None and not cfg.api_key_optional:
        status = next(s for s in settings.provider_status() if s.name == name)
        raise ProviderError(f"unavailable: {status.reason}", provider=name, kind="config")
    base_url = cfg.base_url or DEFAULT_BASE_URLS.get(cfg.type)
    if PROVIDER_PROTOCOL[cfg.type] == "anthropic":
        from .anthropic import AnthropicProvider

        return AnthropicProvider(
            name, api_key=key or "none", base_url=base_url, headers=cfg.headers, max_retries=0
        )
    from .openai_chat import OpenAIChatProvider

    return OpenAIChatProvider(
        name, api_key=key or "none", base_url=base_url, headers=cfg.headers, max_retries=0
    )
