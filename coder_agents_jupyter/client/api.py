"""HTTP to the extension's REST API, sync and async, through one request seam.

``Api.request`` (sync, ``httpx.Client``) and ``Api.arequest`` (async, ``httpx.AsyncClient``)
share how a request is built and how an answer is read: a 2xx answer is its JSON body (None
for an empty one); anything else raises ``AgentsError`` carrying the server's own
``{"error": {"code", "message"}}``. Idempotent GETs are retried on a dropped connection.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

import httpx

API_PATH = "coder-agents/api/v1/"
RETRIES = 3  # attempts of a GET whose connection failed (the server restarting, a blip)


class AgentsError(Exception):
    """An error answered by the server (or the server could not be reached: status 0).

    ``status`` is the HTTP status, ``code`` the server's error code (``bad_request``,
    ``not_found``, ``conflict``...), ``message`` the server's readable reason.
    """

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.body = body

    def __str__(self) -> str:
        where = f"HTTP {self.status}, {self.code}" if self.status else self.code
        return f"{self.message} ({where})"

    def __repr__(self) -> str:
        return f"AgentsError({self.status}, {self.code!r}, {self.message!r})"


class ServerNotFound(AgentsError):
    """No running Jupyter server with the coder-agents extension could be found."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "server_not_found", message)


def api_base(url: str) -> str:
    """The API root for a server URL (``http://host:8888/`` or ``.../base/``); a URL that
    already ends in the API path is kept."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/") + "/"
    if url.endswith("/" + API_PATH):
        return url
    return url + API_PATH


def server_url(url: str) -> str:
    """The server's own URL (the API path removed), always ending in ``/``."""
    base = api_base(url)
    return base[: -len(API_PATH)]


def _error_from(response: httpx.Response) -> AgentsError:
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = response.text
    code, message = "error", ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or code)
        message = str(body["error"].get("message") or "")
    elif isinstance(body, dict) and "message" in body:  # jupyter_server's own error pages
        message = str(body["message"])
    if not message:
        message = response.reason_phrase or f"HTTP {response.status_code}"
        if response.status_code == 403:
            message += ": the token was refused (check JUPYTER_TOKEN or pass token=)"
        elif response.status_code == 404 and not isinstance(body, dict):
            message += ": is the coder-agents extension enabled on this server?"
    return AgentsError(response.status_code, code, message, body)


def _read(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise _error_from(response)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _unreachable(url: str, exc: Exception) -> AgentsError:
    return AgentsError(
        0, "unreachable", f"Cannot reach the Jupyter server at {url}: {exc or type(exc).__name__}"
    )


class Api:
    """The REST API of one server, for one token."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = server_url(url)
        self.base = api_base(url)
        self.token = token or None
        self.timeout = timeout
        self.headers = {"Accept": "application/json"}
        if self.token:
            self.headers["Authorization"] = f"token {self.token}"
        self._client: httpx.Client | None = None
        # One async client per event loop: a client's connections belong to the loop that
        # opened them (the kernel's loop, or a batch's own loop in a worker thread).
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]
        self._aclients = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Api({self.base!r})"

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=64, max_keepalive_connections=64)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                headers=self.headers, timeout=self.timeout, limits=self._limits()
            )
        return self._client

    def aclient(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                headers=self.headers, timeout=self.timeout, limits=self._limits()
            )
            self._aclients[loop] = client
        return client

    async def aclose_loop_client(self) -> None:
        """Close this loop's async client (a batch's private loop does so before it ends)."""
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    @staticmethod
    def _params(params: dict[str, Any] | None) -> dict[str, Any] | None:
        if not params:
            return None
        return {k: v for k, v in params.items() if v is not None}

    # ----- the seam -----

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        url, query = self._url(path), self._params(params)
        body = json if json is not None or method not in ("POST", "PATCH") else {}
        attempts = RETRIES if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.client.request(method, url, json=body, params=query)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise _unreachable(self.url, exc) from None
                time.sleep(0.2 * attempt)
                continue
            return _read(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def arequest(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        url, query = self._url(path), self._params(params)
        body = json if json is not None or method not in ("POST", "PATCH") else {}
        attempts = RETRIES if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self.aclient().request(method, url, json=body, params=query)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise _unreachable(self.url, exc) from None
                await asyncio.sleep(0.2 * attempt)
                continue
            return _read(response)
        raise AssertionError("unreachable")  # pragma: no cover
