"""``%%agent``: run a notebook cell's text as a prompt (``%load_ext coder_agents_jupyter``).

    %%agent [--model M] [--workspace W] [--plan] [--chat ID|last] [--effort E]
            [--timeout S] [--quiet]
    Profile load_data() and make it faster

The chat is shown at once as the live widget (streaming while the cell waits); ``--quiet``
shows nothing and returns only the final answer (an error raises ``AgentsError``). ``--chat``
continues a chat (``last``: the one the previous ``%%agent`` cell used). Interrupting the cell
stops the chat's turn.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .agents import Agents
from .api import AgentsError
from .chat import Chat

_agents: Agents | None = None
last_chat: Chat | None = None
"""The chat the last ``%%agent`` cell ran."""


def use(agents: Agents | None) -> None:
    """Make ``%%agent`` talk to this client (default: ``Agents()`` found on first use)."""
    global _agents
    _agents = agents


def current() -> Agents:
    global _agents
    if _agents is None:
        _agents = Agents()
    return _agents


class Answer(str):
    """The final answer as a string that notebooks render as Markdown."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)


@magics_class
class AgentMagics(Magics):
    @magic_arguments()
    @argument("--model", "-m", help="model id (default: the admin's default model)")
    @argument("--workspace", "-w", help="workspace id or name")
    @argument("--plan", action="store_true", help="plan mode: propose a plan, change nothing")
    @argument("--chat", "-c", dest="chat_id", help="continue this chat (or 'last')")
    @argument("--effort", help="reasoning effort (low, medium, high...)")
    @argument("--timeout", type=float, help="seconds to wait before giving up (chat keeps going)")
    @argument("--quiet", "-q", action="store_true", help="return only the final answer")
    @cell_magic
    def agent(self, line: str, cell: str) -> Any:
        """Run the cell as a prompt for the coding agent."""
        global last_chat
        args = parse_argstring(self.agent, line)
        prompt = cell.strip()
        if not prompt:
            raise UsageError("%%agent needs a prompt in the cell body.")
        agents = current()
        if args.chat_id:
            chat = _continue(agents, args, prompt)
        else:
            chat = agents.chat(
                prompt,
                model=args.model,
                workspace=args.workspace,
                plan=args.plan,
                reasoning_effort=args.effort,
            )
        last_chat = chat
        if args.quiet:
            chat.wait(args.timeout)
            if chat.status == "error":
                raise AgentsError(0, "chat_error", f"The chat {chat.id} failed: {chat.error}")
            return Answer(chat.result or "")
        chat.show()  # the live widget, streaming while this cell waits
        chat.wait(args.timeout)
        if chat._widget is not None:
            chat._widget._turn_ended(chat.id)  # the saved snapshot shows the end, at once
        return None


def _continue(agents: Agents, args: Any, prompt: str) -> Chat:
    if args.chat_id == "last":
        if last_chat is None:
            raise UsageError("--chat last: no %%agent cell has run a chat in this kernel yet.")
        chat = agents.get_chat(last_chat.id)
    else:
        chat = agents.get_chat(args.chat_id)
    changes: dict[str, Any] = {}
    if args.model:
        changes["model"] = args.model
    if args.workspace:
        changes["workspace_id"] = agents.workspace(args.workspace).id
    if changes:
        agents.api.request("PATCH", f"chats/{chat.id}", changes)
    return chat.send(prompt, plan=True if args.plan else None, reasoning_effort=args.effort)


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(AgentMagics)


def unload_ipython_extension(ipython: Any) -> None:
    pass
