"""AWS Bedrock (Anthropic models) through the ``anthropic`` SDK's Bedrock client.

Everything but transport is the Anthropic adapter's (``anthropic.AnthropicMessagesProvider``):
the SDK's Bedrock client moves the model into the URL (``/model/{id}/invoke-with-response-stream``),
signs the request, and decodes the AWS event-stream frames back into the Messages API's events.

Credentials: a Bedrock API key (``api_key``, sent as ``Authorization: Bearer``) when given, else
the AWS default credential chain through botocore (environment, profile, SSO, instance role),
signed with SigV4. The decoder and the signer need ``boto3``/``botocore``, which are an optional
extra: without them the provider refuses to start with a message naming the extra.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator

import anthropic

from ..errors import ProviderError
from .anthropic import AnthropicMessagesProvider
from .http import anthropic_http_client
from .types import ModelRequest, StreamEvent

log = logging.getLogger(__name__)

INSTALL_HINT = 'install the extra `pip install "coder_agents_jupyter[bedrock]"`'
# The body's ``anthropic_version`` Bedrock documents as the only accepted value. Some SDK releases
# fill in their own API version date instead (``setdefault``), so it is set explicitly here.
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"


def require_aws_extra(provider: str) -> None:
    """Raise a config ``ProviderError`` unless the Bedrock extra (boto3, botocore) is installed.

    Checked up front: otherwise the SDK would fail only mid-call, with a bare ImportError.
    """
    missing = [m for m in ("botocore", "boto3") if importlib.util.find_spec(m) is None]
    if missing:
        raise ProviderError(
            f"AWS Bedrock needs {' and '.join(missing)}: {INSTALL_HINT}",
            provider=provider,
            kind="config",
        )


class BedrockProvider(AnthropicMessagesProvider):
    """Anthropic models on one AWS Bedrock region (or a Bedrock-compatible ``base_url``)."""

    # Anthropic's web search server tool is not offered through Bedrock's InvokeModel.
    supports_web_search = False

    def __init__(
        self,
        name: str,
        api_key: str | None,
        region: str | None,
        base_url: str | None = None,
        headers: dict[str, str] | None = None,
        max_retries: int = 2,
        timeout: float = 600.0,
        prompt_caching: bool = True,
    ) -> None:
        require_aws_extra(name)
        try:
            client = anthropic.AsyncAnthropicBedrock(
                api_key=api_key,
                aws_region=region,
                base_url=base_url,
                default_headers=headers,
                max_retries=max_retries,
                timeout=timeout,
                http_client=anthropic_http_client(),
            )
        except ValueError as exc:  # no region anywhere (argument, AWS_REGION, profile)
            raise ProviderError(
                f"AWS Bedrock: {exc} (or set `region` in this provider's settings)",
                provider=name,
                kind="config",
            ) from None
        super().__init__(
            name,
            client,
            secrets=(api_key,),
            prompt_caching=prompt_caching,
            extra_body={"anthropic_version": BEDROCK_ANTHROPIC_VERSION},
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        try:
            async for event in super().stream(request):
                yield event
        except ProviderError:
            raise
        except Exception as exc:
            error = _credentials_error(exc, self.name)
            if error is None:
                raise
            raise error from None


def _credentials_error(exc: Exception, provider: str) -> ProviderError | None:
    """SigV4 signing failures, which the SDK lets through as botocore or bare exceptions."""
    module = type(exc).__module__ or ""
    # The SDK's own "Could not resolve AWS credentials from session" is a RuntimeError.
    no_credentials = isinstance(exc, RuntimeError) and "credentials" in str(exc).lower()
    if not module.startswith("botocore") and not no_credentials:
        return None
    return ProviderError(
        f"AWS credentials for Bedrock are missing or unusable ({type(exc).__name__}): give the "
        "provider a Bedrock API key, or configure AWS credentials (environment, profile, role)",
        provider=provider,
        kind="auth",
    )
