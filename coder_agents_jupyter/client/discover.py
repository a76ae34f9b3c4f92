"""Finding the running Jupyter server (URL and token) from a notebook's kernel.

In order: an explicit URL (and token); ``JUPYTER_SERVER_URL`` with ``JUPYTER_TOKEN`` (or
``JUPYTER_TOKEN_FILE``); JupyterHub's ``JUPYTERHUB_SERVICE_URL`` with ``JUPYTERHUB_API_TOKEN``;
then the servers' runtime files (``jpserver-*.json`` in ``jupyter_runtime_dir()``): the server
this kernel was started by first, then the newest, taking the first that answers with the
coder-agents API.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .api import ServerNotFound, api_base, server_url

PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class ServerInfo:
    url: str  # the server's URL, ending in "/" (base_url included)
    token: str | None
    source: str  # where it was found, for messages


def _env_token() -> str | None:
    token = os.environ.get("JUPYTER_TOKEN")
    if token:
        return token
    token_file = os.environ.get("JUPYTER_TOKEN_FILE")
    if token_file:
        with contextlib.suppress(OSError):
            return Path(token_file).read_text().strip() or None
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ancestors() -> list[int]:
    """Process ids from this one's parent upwards (Linux /proc; just the parent elsewhere)."""
    out, pid = [], os.getppid()
    for _ in range(32):
        if pid <= 1:
            break
        out.append(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def runtime_dir() -> str:
    from jupyter_core.paths import jupyter_runtime_dir

    return str(jupyter_runtime_dir())


def runtime_servers(directory: str | None = None) -> list[dict[str, Any]]:
    """Server info files of live servers, the kernel's own server first, then newest first."""
    folder = directory or runtime_dir()
    found: list[tuple[float, dict[str, Any]]] = []
    for name in glob.glob(os.path.join(folder, "jpserver-*.json")):
        try:
            info = json.loads(Path(name).read_text())
            mtime = os.path.getmtime(name)
        except (OSError, ValueError):
            continue  # being written, or gone
        if not isinstance(info, dict) or not info.get("url"):
            continue
        pid = info.get("pid")
        if isinstance(pid, int) and not _pid_alive(pid):
            continue
        found.append((mtime, info))
    ancestors = _ancestors()

    def rank(item: tuple[float, dict[str, Any]]) -> tuple[int, float]:
        mtime, info = item
        pid = info.get("pid")
        closeness = ancestors.index(pid) if pid in ancestors else len(ancestors)
        return closeness, -mtime

    return [info for _, info in sorted(found, key=rank)]


def _answers(url: str, token: str | None) -> bool:
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        r = httpx.get(api_base(url) + "models", headers=headers, timeout=PROBE_TIMEOUT)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def _info_urls(info: dict[str, Any]) -> list[str]:
    """URLs that may reach the server of a runtime file: its own, then loopback (a server
    bound to all interfaces writes its hostname, which may not resolve)."""
    urls = [server_url(str(info["url"]))]
    port, base = info.get("port"), str(info.get("base_url") or "/")
    if isinstance(port, int) and port > 0:
        scheme = "https" if info.get("secure") else "http"
        loopback = server_url(f"{scheme}://127.0.0.1:{port}/{base.lstrip('/')}")
        if loopback not in urls:
            urls.append(loopback)
    return urls


def discover(url: str | None = None, token: str | None = None) -> ServerInfo:
    """Where the coder-agents API is; ``ServerNotFound`` says what was tried."""
    if url:
        if token is None:
            token = _env_token()
            if token is None:  # the token of a runtime file naming the same server
                for info in runtime_servers():
                    if server_url(url) in _info_urls(info):
                        token = info.get("token") or None
                        break
        return ServerInfo(server_url(url), token, "argument")
    tried: list[str] = []
    env_url = os.environ.get("JUPYTER_SERVER_URL")
    if env_url:
        return ServerInfo(server_url(env_url), token or _env_token(), "JUPYTER_SERVER_URL")
    tried.append("JUPYTER_SERVER_URL is not set")
    hub_url = os.environ.get("JUPYTERHUB_SERVICE_URL")
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if hub_url and hub_token:
        return ServerInfo(server_url(hub_url), token or hub_token, "JUPYTERHUB_SERVICE_URL")
    folder = runtime_dir()
    servers = runtime_servers(folder)
    for info in servers:
        key = token or info.get("token") or None
        for candidate in _info_urls(info):
            if _answers(candidate, key):
                return ServerInfo(candidate, key, f"runtime file of pid {info.get('pid')}")
        tried.append(f"{info['url']} did not answer with the coder-agents API")
    if not servers:
        tried.append(f"no running server's jpserver-*.json in {folder}")
    raise ServerNotFound(
        "No running Jupyter server with coder-agents was found ("
        + "; ".join(tried)
        + "). Pass Agents(url, token), or set JUPYTER_SERVER_URL and JUPYTER_TOKEN."
    )
