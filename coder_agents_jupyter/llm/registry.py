"""Build provider clients from settings: the provider type picks the wire protocol.

The SDKs' own retries are off (``max_retries=0``): ``llm.retry`` retries with the admin's
policy and tells users about each retry. SDK modules are imported only for the protocols in
use, so a server without Bedrock never needs its extra dependencies.
"""

from __future__ import annotations

from ..errors import ProviderError
from ..settings import DEFAULT_BASE_URLS, ProviderSettings, Settings
from .base import Provider


def make_provider(settings: Settings, name: str) -> Provider:
    """A client for provider ``name``; its key comes from ``settings.secrets`` only."""
    cfg = next((p for p in settings.providers if p.name == name), None)
    if cfg is None:
        raise ProviderError(f"provider {name!r} is not configured", provider=name, kind="config")
    key = settings.secrets.get(name)
    if key is None and cfg.key_required:
        status = next(s for s in settings.provider_status() if s.name == name)
        raise ProviderError(f"unavailable: {status.reason}", provider=name, kind="config")
    return _build(cfg, key)


def _build(cfg: ProviderSettings, key: str | None) -> Provider:
    common = {"headers": cfg.headers, "max_retries": 0}
    base_url = cfg.base_url or DEFAULT_BASE_URLS.get(cfg.type)
    protocol = cfg.protocol
    if protocol == "anthropic":
        from .anthropic import AnthropicProvider

        return AnthropicProvider(cfg.name, api_key=key or "none", base_url=base_url, **common)
    if protocol == "bedrock":
        from .bedrock import BedrockProvider

        return BedrockProvider(
            cfg.name, api_key=key, region=cfg.region, base_url=base_url, **common
        )
    azure = None
    if cfg.type == "azure-openai":
        from .openai_client import AzureConfig

        if not cfg.base_url:
            raise ProviderError(
                "azure-openai needs base_url (the resource endpoint)",
                provider=cfg.name,
                kind="config",
            )
        azure = AzureConfig(cfg.base_url, cfg.api_version, cfg.deployment)
    if protocol == "openai-responses":
        from .openai_responses import OpenAIResponsesProvider

        return OpenAIResponsesProvider(
            cfg.name, api_key=key or "none", base_url=base_url, azure=azure, **common
        )
    from .openai_chat import OpenAIChatProvider

    return OpenAIChatProvider(
        cfg.name, api_key=key or "none", base_url=base_url, azure=azure, **common
    )
