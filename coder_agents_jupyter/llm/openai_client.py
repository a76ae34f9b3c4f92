"""The ``openai`` SDK client both OpenAI adapters use: plain, or for an Azure OpenAI resource.

Azure OpenAI has two URL schemes and both stay in use:

* the v1 API (GA since August 2025): ``https://<resource>.openai.azure.com/openai/v1/``, spoken by
  the plain ``AsyncOpenAI`` client with the Azure key as its API key, no ``api-version``;
* the classic API: ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``
  (``{endpoint}/openai/responses?...`` for the Responses API), spoken by ``AsyncAzureOpenAI``,
  which sends the key in an ``api-key`` header and puts the deployment into the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import openai

from .http import openai_http_client

_V1_PATH = "/openai/v1"


@dataclass(frozen=True)
class AzureConfig:
    """Where an Azure OpenAI resource lives and which of its two APIs to speak.

    ``endpoint`` is the resource URL (``https://<resource>.openai.azure.com``) or the full v1 base
    URL. ``api_version`` None or ``"v1"`` selects the v1 API; a dated version (``2024-10-21``,
    ``2025-04-01-preview``) selects the classic API. ``deployment`` (classic only) pins every
    request to one deployment; without it the request's model name is the deployment name.
    """

    endpoint: str
    api_version: str | None = None
    deployment: str | None = None

    @property
    def is_v1(self) -> bool:
        return self.api_version in (None, "", "v1")

    def v1_base_url(self) -> str:
        """The v1 base URL, whether ``endpoint`` is the bare resource URL or already the v1 URL."""
        url = self.endpoint.rstrip("/")
        if urlsplit(url).path.rstrip("/").endswith(_V1_PATH):
            return url + "/"
        return url + _V1_PATH + "/"

    def resource_endpoint(self) -> str:
        """The resource URL without any ``/openai...`` suffix an admin may have pasted."""
        parts = urlsplit(self.endpoint)
        path = parts.path
        cut = path.find("/openai")
        if cut >= 0:
            path = path[:cut]
        return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}"


def make_openai_client(
    *,
    api_key: str,
    base_url: str | None = None,
    headers: dict[str, str] | None = None,
    max_retries: int = 2,
    timeout: float = 600.0,
    azure: AzureConfig | None = None,
) -> openai.AsyncOpenAI:
    """An async client for OpenAI or a compatible server, or for Azure when ``azure`` is given.

    With ``azure`` the ``base_url`` argument is ignored: the URL comes from the Azure config.
    """
    if azure is None:
        return openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            default_headers=headers,
            max_retries=max_retries,
            timeout=timeout,
            http_client=openai_http_client(),
        )
    if azure.is_v1:
        return openai.AsyncOpenAI(
            api_key=api_key,
            base_url=azure.v1_base_url(),
            default_headers=headers,
            max_retries=max_retries,
            timeout=timeout,
            http_client=openai_http_client(),
        )
    return openai.AsyncAzureOpenAI(
        api_key=api_key,
        azure_endpoint=azure.resource_endpoint(),
        azure_deployment=azure.deployment,
        api_version=azure.api_version,
        default_headers=headers,
        max_retries=max_retries,
        timeout=timeout,
        http_client=openai_http_client(),
    )
