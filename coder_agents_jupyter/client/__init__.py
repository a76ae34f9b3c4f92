"""Python client of the coder-agents server, for notebooks and scripts.

    from coder_agents_jupyter import Agents
    agents = Agents()                     # the running server (env or runtime files)
    chat = agents.chat("Profile load_data() and make it faster")
    chat.wait(); chat.result
    agents.batch(["...", "..."], concurrency=4)

Every blocking call has an ``*_async`` twin. Server errors raise ``AgentsError`` with the
server's own message.
"""

from __future__ import annotations

from .agents import Agents
from .api import AgentsError, ServerNotFound
from .chat import Chat
from .models import (
    ChatInfo,
    Diff,
    FileDiff,
    Message,
    Model,
    Template,
    TemplateParameter,
    Usage,
    Workspace,
)

__all__ = [
    "Agents",
    "AgentsError",
    "Chat",
    "ChatInfo",
    "Diff",
    "FileDiff",
    "Message",
    "Model",
    "ServerNotFound",
    "Template",
    "TemplateParameter",
    "Usage",
    "Workspace",
]
