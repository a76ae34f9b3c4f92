"""coder-agents-jupyter: a self-hosted coding and research agent inside Jupyter."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import CoderAgents

    return [{"module": "coder_agents_jupyter", "app": CoderAgents}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "coder-agents-jupyter"}]


def __getattr__(name: str) -> Any:
    # The client is loaded on first use: the server extension never needs it.
    if name in ("Agents", "AgentsError", "Chat"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext coder_agents_jupyter``: the ``%%agent`` cell magic."""
    from .client.magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .client.magic import unload_ipython_extension as unload

    unload(ipython)
