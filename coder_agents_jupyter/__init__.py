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
