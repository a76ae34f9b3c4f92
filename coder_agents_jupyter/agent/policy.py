"""Which tools a chat is offered and which calls need a person's approval.

The admin's ``tool_policy`` is the floor; a user may tighten it per chat (``chats.tool_policy``
``{"tools": {name: policy}, "grants": [names]}``), and "allow for this chat" grants turn
``ask`` into ``auto`` for one chat. An admin's ``deny`` is final. Plan mode confines writes
to the plan file and hides the tools that change things outside it.
"""

from __future__ import annotations

from typing import Any

from ..db.models import Chat
from ..settings import Settings, stricter
from ..tools.base import Tool
from ..tools.plan_tools import ENDS_TURN, READ_ONLY_IN_PLAN


def effective_policy(settings: Settings, chat: Chat, tool: str) -> str:
    own: dict[str, Any] = chat.tool_policy or {}
    policy = stricter(
        settings.tool_policy.get(tool, "auto"), own.get("tools", {}).get(tool, "auto")
    )
    if policy == "ask" and tool in own.get("grants", ()):
        return "auto"
    return policy


def offered(
    tools: list[Tool], plan_tools: list[Tool], settings: Settings, chat: Chat
) -> list[Tool]:
    """The tools the model sees this step."""
    out = [t for t in tools if not (chat.plan_mode and t.name in READ_ONLY_IN_PLAN)]
    if chat.plan_mode:
        out += plan_tools
    return [t for t in out if effective_policy(settings, chat, t.name) != "deny"]


def ends_turn(name: str) -> bool:
    return name in ENDS_TURN
