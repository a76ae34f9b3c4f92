"""Translate the vendor SDKs' exceptions into ``ProviderError``, in one place.

Both official SDKs (``anthropic``, ``openai``) share the same Stainless core: ``APIStatusError``
subclasses per HTTP status, ``APIConnectionError``/``APITimeoutError`` for transport failures, and
a plain ``APIError`` (OpenAI) or a status-200 ``APIStatusError`` (Anthropic) for errors that arrive
inside an already-started stream. Every class an SDK exports is listed in a table below, so an SDK
upgrade that adds one makes ``tests/unit/test_llm_errors.py`` fail until someone decides its kind.

The message of a ``ProviderError`` is the vendor's own ``error.message`` (never ``str(exc)``, which
embeds the whole body) with known secrets and anything shaped like an API key masked.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import anthropic
import httpx2
import openai

from ..errors import ProviderError

# Sentinel kind: decide from the HTTP status and the error body.
BY_STATUS = "by_status"

# class name -> (kind, retryable override or None = decide by status/kind)
ANTHROPIC_KINDS: dict[str, tuple[str, bool | None]] = {
    "APIError": ("generic", None),
    "APIStatusError": (BY_STATUS, None),
    "APIConnectionError": ("connection", True),
    "APITimeoutError": ("timeout", True),
    # The API answered with a shape the SDK could not validate: a vendor bug, not ours.
    "APIResponseValidationError": ("generic", False),
    # Webhooks are not used here; listed so the table stays exhaustive.
    "APIWebhookValidationError": ("generic", False),
    "BadRequestError": ("bad_request", None),
    "AuthenticationError": ("auth", False),
    "PermissionDeniedError": ("auth", False),
    "SandboxEgressRestrictedError": ("auth", False),
    # Billing problems need an admin, exactly like a bad key.
    "PaymentRequiredError": ("auth", False),
    "LinkedOrganizationBillingUnavailableError": ("auth", False),
    "LinkedOrganizationSpendLimitReachedError": ("auth", False),
    # Organisation / key configuration problems: an admin must act, retrying cannot help.
    "CMEKKeyDisabledError": ("auth", False),
    "CMEKKeyNetworkBlockedError": ("auth", False),
    "ClaudeCodeKeyCreatorNotMemberError": ("auth", False),
    "OrganizationOnHoldError": ("auth", False),
    "OrganizationTypeNotSupportedError": ("auth", False),
    "ParentOrganizationRequiredError": ("auth", False),
    "ClaudeCodeVersionTooOldError": ("bad_request", False),
    "RequestBodyEncodingInvalidError": ("bad_request", False),
    "RequestBodyEncodingUnsupportedError": ("bad_request", False),
    "NotFoundError": ("bad_request", False),
    "PreconditionFailedError": ("bad_request", False),
    "UnprocessableEntityError": ("bad_request", False),
    "RequestHeaderFieldsTooLargeError": ("bad_request", False),
    # 413 means the request body is too big: compaction is the cure.
    "ContentTooLargeError": ("context_overflow", False),
    "RequestTooLargeError": ("context_overflow", False),
    "RequestBodyTooLargeAfterDecodingError": ("context_overflow", False),
    "RequestTimeoutError": ("timeout", True),
    "ConflictError": ("generic", True),
    "RateLimitError": ("rate_limit", True),
    "RampLimitExceededError": ("rate_limit", True),
    # Spend limits are 429s that waiting seconds will not lift.
    "ContractSpendLimitReachedError": ("rate_limit", False),
    "EnforcedSpendLimitReachedError": ("rate_limit", False),
    # 499: the connection was dropped before the answer; worth another try.
    "ClientClosedRequestError": ("connection", True),
    "InternalServerError": ("server", True),
    "HTTPNotImplementedError": ("server", False),
    "ServiceUnavailableError": ("overloaded", True),
    "CMEKContextUnavailableError": ("server", True),
    "CMEKKeyUnreachableError": ("server", True),
    "GatewayTimeoutError": ("timeout", True),
    "DeadlineExceededError": ("timeout", True),
    "OverloadedError": ("overloaded", True),
    # Not APIError subclasses, but exported exceptions the client may raise.
    "CredentialsError": ("auth", False),
    "IdentityTokenFileError": ("auth", False),
    "WorkloadIdentityError": ("auth", False),
    "RetryableError": ("generic", True),
    "AnthropicError": ("generic", False),
}

OPENAI_KINDS: dict[str, tuple[str, bool | None]] = {
    "APIError": (BY_STATUS, None),  # in-stream error chunk: classified from its body
    "APIStatusError": (BY_STATUS, None),
    "APIConnectionError": ("connection", True),
    "APITimeoutError": ("timeout", True),
    "APIResponseValidationError": ("generic", False),
    "BadRequestError": ("bad_request", None),
    "AuthenticationError": ("auth", False),
    "OAuthError": ("auth", False),
    "PermissionDeniedError": ("auth", False),
    "NotFoundError": ("bad_request", False),
    "ConflictError": ("generic", True),
    "UnprocessableEntityError": ("bad_request", False),
    "RateLimitError": ("rate_limit", None),
    "InternalServerError": (BY_STATUS, None),
    # Raised only by the SDK's parse helpers; mapped so nothing escapes unclassified.
    "ContentFilterFinishReasonError": ("content_filter", False),
    "LengthFinishReasonError": ("generic", False),
    "SubjectTokenProviderError": ("auth", False),
    "OpenAIError": ("generic", False),
}

# Anthropic ``error.type`` values (HTTP bodies and in-stream ``event: error``).
_ANTHROPIC_ERROR_TYPES: dict[str, str] = {
    "invalid_request_error": "bad_request",
    "authentication_error": "auth",
    "permission_error": "auth",
    "billing_error": "auth",
    "not_found_error": "bad_request",
    "request_too_large": "context_overflow",
    "rate_limit_error": "rate_limit",
    "api_error": "server",
    "timeout_error": "timeout",
    "overloaded_error": "overloaded",
}

# AWS Bedrock exception names, first letter lowered: the event-stream ``:exception-type`` of an
# error inside a stream (``throttlingException``) and the ``x-amzn-errortype`` header of an HTTP
# error (``ThrottlingException:http://...``), whose body is only ``{"message": ...}``.
_BEDROCK_ERROR_TYPES: dict[str, str] = {
    "throttlingException": "rate_limit",
    "serviceQuotaExceededException": "rate_limit",
    "serviceUnavailableException": "overloaded",
    "modelNotReadyException": "overloaded",
    "internalServerException": "server",
    "modelStreamErrorException": "server",
    "modelErrorException": "server",
    "modelTimeoutException": "timeout",
    "validationException": "bad_request",
    "resourceNotFoundException": "bad_request",
    "accessDeniedException": "auth",
    "unrecognizedClientException": "auth",
    "expiredTokenException": "auth",
}

# OpenAI-style ``error.code`` / ``error.type`` strings (OpenAI, Azure, OpenRouter, vLLM...).
_OPENAI_ERROR_CODES: dict[str, str] = {
    "context_length_exceeded": "context_overflow",
    "string_above_max_length": "context_overflow",
    "content_filter": "content_filter",
    "content_policy_violation": "content_filter",
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "tokens": "rate_limit",
    "invalid_api_key": "auth",
    "server_error": "server",
    "internal_error": "server",
    "overloaded": "overloaded",
    "timeout": "timeout",
}

_RETRYABLE_KINDS = {"rate_limit", "overloaded", "server", "timeout", "connection"}
# Quotas that waiting seconds will not lift.
_NOT_RETRYABLE_CODES = {"insufficient_quota", "serviceQuotaExceededException"}

_CONTEXT_OVERFLOW = re.compile(
    r"prompt is too long|context[ _-]?length|maximum context|context window|input is too long"
    r"|too many (input )?tokens|exceeds? the (model'?s? )?(maximum|max) (context|input)",
    re.IGNORECASE,
)
_CONTENT_FILTER = re.compile(r"content[ _-]?(filter|policy|management)|moderation|flagged", re.I)
# Anything that looks like a credential: sk-..., sk-ant-..., Bearer tokens, key=... params.
_KEY_LIKE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-.=]{8,}|(api[_-]?key|token)=[^\s&\"']{6,})",
    re.IGNORECASE,
)
_MAX_MESSAGE = 500

_DEFAULT_MESSAGES = {
    "auth": "the provider rejected the credentials",
    "bad_request": "the provider rejected the request",
    "rate_limit": "rate limited by the provider",
    "overloaded": "the provider is overloaded",
    "server": "the provider had an internal error",
    "timeout": "the request to the provider timed out",
    "connection": "could not reach the provider",
    "content_filter": "the provider's content filter blocked the request",
    "context_overflow": "the conversation is too long for the model",
    "generic": "the provider call failed",
}


def to_provider_error(
    exc: BaseException, provider: str, *, secrets: Iterable[str] = ()
) -> ProviderError | None:
    """The ``ProviderError`` for an SDK or transport exception, or None if ``exc`` is not one."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, anthropic.AnthropicError):
        return _classify(exc, provider, ANTHROPIC_KINDS, secrets)
    if isinstance(exc, openai.OpenAIError):
        return _classify(exc, provider, OPENAI_KINDS, secrets)
    # Anthropic's stream iterator lets transport errors of a broken stream through unwrapped.
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderError(
            f"the stream timed out ({type(exc).__name__})",
            provider=provider,
            kind="timeout",
            retryable=True,
        )
    if isinstance(exc, httpx2.TransportError):
        return ProviderError(
            f"the connection to the provider broke ({type(exc).__name__})",
            provider=provider,
            kind="connection",
            retryable=True,
        )
    # Both SDKs ``json.loads`` each SSE ``data:`` line and let a decode error escape as is. A cut
    # or garbled event is usually damage in transit (proxies), so another attempt may succeed.
    # Only the parser's position goes in the message, never the payload.
    if isinstance(exc, json.JSONDecodeError):
        return ProviderError(
            f"the provider sent a malformed stream event (invalid JSON at character {exc.pos})",
            provider=provider,
            kind="generic",
            retryable=True,
        )
    return None


class map_provider_errors:  # noqa: N801 - used like a function: ``async with map_provider_errors(...)``
    """Context manager (async or sync) re-raising SDK exceptions as ``ProviderError``.

    The original exception is not chained: it carries the request, whose headers hold the key.
    """

    def __init__(self, provider: str, *, secrets: Iterable[str] = ()) -> None:
        self.provider = provider
        self.secrets = tuple(s for s in secrets if s)

    def _translate(self, exc: BaseException | None) -> None:
        if exc is None or isinstance(exc, ProviderError):
            return
        err = to_provider_error(exc, self.provider, secrets=self.secrets)
        if err is not None:
            raise err from None

    def __enter__(self) -> map_provider_errors:
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._translate(exc)
        return False

    async def __aenter__(self) -> map_provider_errors:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._translate(exc)
        return False


def table_entry(
    exc_type: type[BaseException], table: Mapping[str, tuple[str, bool | None]]
) -> tuple[str, bool | None] | None:
    """The table entry of the nearest class in ``exc_type``'s MRO (so new subclasses inherit)."""
    for cls in exc_type.__mro__:
        if cls.__name__ in table:
            return table[cls.__name__]
    return None


def _classify(
    exc: BaseException,
    provider: str,
    table: Mapping[str, tuple[str, bool | None]],
    secrets: Iterable[str],
) -> ProviderError:
    kind, retryable = table_entry(type(exc), table) or ("generic", None)
    status: int | None = getattr(exc, "status_code", None)
    if not isinstance(status, int) or status < 400:
        status = None  # Anthropic raises in-stream errors as APIStatusError with HTTP 200
    error = _error_object(getattr(exc, "body", None))
    headers = _headers(exc)
    code = (
        _as_str(error.get("code"))
        or _as_str(error.get("type"))
        or _amzn_error_type(headers.get("x-amzn-errortype"))
    )
    code = _bedrock_code(code)
    vendor_message = _as_str(error.get("message"))

    if status is None and isinstance(exc, openai.APIError | anthropic.APIStatusError):
        # An error inside a 200 stream: OpenRouter puts the HTTP-like status in ``code``.
        if code and code.isdigit():
            status = int(code)
            code = _as_str(error.get("type"))
    if kind == BY_STATUS or (status is None and kind != "connection" and kind != "timeout"):
        kind = _kind_from(status, code) or ("generic" if kind == BY_STATUS else kind)
    elif code in _BEDROCK_ERROR_TYPES:
        # Bedrock names the cause exactly where statuses are shared (a quota is a 400 there).
        kind = _BEDROCK_ERROR_TYPES[code]
    kind = _refine(kind, code, vendor_message)

    if retryable is None or kind in ("context_overflow", "content_filter"):
        retryable = kind in _RETRYABLE_KINDS or status in (408, 409, 429) or (status or 0) >= 500
        if kind in ("context_overflow", "content_filter", "auth", "bad_request"):
            retryable = False
    if code in _NOT_RETRYABLE_CODES:
        retryable = False
    should_retry = headers.get("x-should-retry", "").lower()
    if should_retry in ("true", "false"):
        retryable = should_retry == "true"

    if kind in ("connection", "timeout") and vendor_message is None:
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}" if cause is not None else ""
        vendor_message = f"{_DEFAULT_MESSAGES[kind]}{detail}"
    message = _scrub(
        vendor_message or _DEFAULT_MESSAGES.get(kind, "the provider call failed"), secrets
    )
    return ProviderError(
        message,
        provider=provider,
        kind=kind,
        status_code=status,
        retryable=retryable,
        retry_after=_retry_after(headers),
    )


def _kind_from(status: int | None, code: str | None) -> str | None:
    if code:
        if code in _ANTHROPIC_ERROR_TYPES:
            return _ANTHROPIC_ERROR_TYPES[code]
        if code in _BEDROCK_ERROR_TYPES:
            return _BEDROCK_ERROR_TYPES[code]
        if code in _OPENAI_ERROR_CODES:
            return _OPENAI_ERROR_CODES[code]
    if status is None:
        return None
    if status in (401, 402, 403):
        return "auth"
    if status == 408:
        return "timeout"
    if status == 413:
        return "context_overflow"
    if status == 429:
        return "rate_limit"
    if status in (503, 529):
        return "overloaded"
    if status == 504:
        return "timeout"
    if status >= 500:
        return "server"
    if 400 <= status < 500:
        return "bad_request"
    return None


def _refine(kind: str, code: str | None, message: str | None) -> str:
    """Body-level causes that share a status with ordinary errors (400, 403)."""
    if kind not in ("bad_request", "generic", "auth"):
        return kind
    if code in _OPENAI_ERROR_CODES and _OPENAI_ERROR_CODES[code] in (
        "context_overflow",
        "content_filter",
    ):
        return _OPENAI_ERROR_CODES[code]
    if message and kind != "auth" and _CONTEXT_OVERFLOW.search(message):
        return "context_overflow"
    if message and _CONTENT_FILTER.search(message):
        return "content_filter"
    return kind


def _error_object(body: object) -> dict[str, Any]:
    """The ``{type, code, message}`` object of a vendor error body, whatever its nesting."""
    if isinstance(body, list) and body:  # Gemini sometimes answers ``[{"error": {...}}]``
        body = body[0]
    if not isinstance(body, dict):
        # A plain-text body is the message; an HTML error page from a proxy is not.
        if isinstance(body, str) and body.strip() and not body.lstrip().startswith("<"):
            return {"message": body}
        return {}
    inner = body.get("error")
    if isinstance(inner, dict):
        return inner
    return body


def _amzn_error_type(header: str | None) -> str | None:
    """``ThrottlingException`` from ``ThrottlingException:http://internal.amazon.com/...``."""
    if not header:
        return None
    return header.split(":", 1)[0].strip() or None


def _bedrock_code(code: str | None) -> str | None:
    """A Bedrock exception name in the table's spelling (HTTP headers capitalise it)."""
    if code and code.endswith("Exception"):
        lowered = code[0].lower() + code[1:]
        if lowered in _BEDROCK_ERROR_TYPES:
            return lowered
    return code


def _as_str(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _headers(exc: BaseException) -> Mapping[str, str]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return {}
    return {k.lower(): v for k, v in headers.items()}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _scrub(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            message = message.replace(secret, "***")
    message = _KEY_LIKE.sub("***", message)
    message = " ".join(message.split())
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return message
