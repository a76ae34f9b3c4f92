"""Exceptions of coder-agents-jupyter, named for who is at fault.

CoderAgentsError
├── ConfigError          an admin's configuration is invalid (names the bad key)
├── ProviderError        an LLM provider failed (kind, status, retryable, provider name)
├── ModelBehaviorError   the model produced something unusable (bad tool arguments...)
├── WorkspaceError       a workspace could not be reached or failed an operation
├── ToolError            a tool refused its input; becomes a readable result for the model
└── ApiError             a request cannot be served (bad input, not found, wrong state)
    ├── BadRequest (400), Forbidden (403), NotFound (404), Conflict (409),
    └── TooLarge (413), UnsupportedType (415)
"""

from __future__ import annotations

from typing import ClassVar


class CoderAgentsError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(CoderAgentsError):
    """An admin setting is invalid. ``key`` names it as in ``c.CoderAgents.<key>``."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"c.CoderAgents.{key}: {problem}")
        self.key = key
        self.problem = problem


class ProviderError(CoderAgentsError):
    """A call to an LLM provider failed.

    ``kind`` is one of: auth, bad_request, rate_limit, overloaded, server, timeout,
    connection, content_filter, context_overflow, config, generic.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        kind: str = "generic",
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.kind = kind
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after

    def describe(self) -> str:
        """One human sentence naming the provider and the cause."""
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{self.provider}: {self.message}{status}"


class ModelBehaviorError(CoderAgentsError):
    """The model produced output the loop cannot use."""


class WorkspaceError(CoderAgentsError):
    """A workspace operation failed for reasons outside the tool's input."""


class ToolError(CoderAgentsError):
    """A tool refuses its input; the message is shown to the model as the result."""


class ApiError(CoderAgentsError):
    """A request cannot be served; ``status`` and ``code`` shape the HTTP error body."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class TooLarge(ApiError):
    status = 413
    code = "too_large"


class UnsupportedType(ApiError):
    status = 415
    code = "unsupported_type"
