"""``Chat``: a handle on one chat of the server, for notebooks and scripts.

Waiting polls ``GET chats/{id}`` with a backoff (fast at first, at most ``poll_max`` apart),
which keeps an idle notebook cheap for the server. Interrupting a blocking ``wait()`` (the
kernel's interrupt button, Ctrl-C) stops the chat's running turn unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from .api import AgentsError
from .models import ChatInfo, Diff, Message, Usage

if TYPE_CHECKING:
    from .agents import Agents
    from .widget import ChatWidget

PAGE = 500


class Backoff:
    """Poll delays: ``first`` growing by ``factor`` up to ``most``; ``reset`` on progress."""

    def __init__(self, first: float = 0.05, most: float = 1.0, factor: float = 1.5) -> None:
        self.first, self.most, self.factor = first, most, factor
        self.delay = first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.most, self.delay * self.factor)
        return delay

    def reset(self) -> None:
        self.delay = self.first


def final_answer(messages: list[Message]) -> str | None:
    """The text of the last assistant message of the last turn that has text."""
    for message in reversed(messages):
        if message.role == "user":
            return None
        if message.role == "assistant" and not message.is_summary and message.text.strip():
            return message.text
    return None


class Chat:
    """One chat. ``chat.wait()`` (or ``await chat.wait_async()``), then ``chat.result``."""

    def __init__(self, agents: Agents, info: ChatInfo | dict[str, Any]) -> None:
        self._agents = agents
        self.info = info if isinstance(info, ChatInfo) else ChatInfo.model_validate(info)
        self._messages: list[Message] = []
        self._widget: ChatWidget | None = None

    # ----- what it is -----

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def title(self) -> str:
        return self.info.title

    @property
    def model(self) -> str:
        return self.info.model

    @property
    def done(self) -> bool:
        """True when the chat is not working (waiting, error, paused, needs an action...)."""
        return self.info.done

    @property
    def error(self) -> str | None:
        """The server's reason when the chat is in ``error``."""
        return self.info.error_message if self.info.status == "error" else None

    def __repr__(self) -> str:
        return f"<Chat {self.id} {self.status} {self.title!r}>"

    def _repr_markdown_(self) -> str:
        head = f"**Chat** `{self.id}` · {self.status} · {self.model}"
        usage = self.info.usage
        if usage.total_tokens:
            head += f" · {usage.total_tokens} tokens"
            if usage.cost:  # 0 when the admin set no prices for the model
                head += f" · ${usage.cost:.4f}"
        if self.status == "error":
            return f"{head}\n\n**Error:** {self.error}"
        if not self.done:
            return head + "\n\n*(running: `chat.wait()` blocks until it is done)*"
        try:
            answer = self.result
        except AgentsError:
            answer = None
        return f"{head}\n\n{answer}" if answer else head

    def widget(self) -> ChatWidget:
        """The live view of this chat (one per chat object), fed through this kernel."""
        if self._widget is None:
            from .widget import ChatWidget

            self._widget = ChatWidget(self)
        return self._widget

    def show(self) -> Any:
        """Display the live widget (with a static snapshot for saved notebooks); returns the
        display handle, or None outside a kernel."""
        from IPython.display import Markdown, display

        try:
            return self.widget().show()
        except Exception:  # no kernel with widgets here: a text view is better than nothing
            return display(Markdown(self._repr_markdown_()), display_id=True)

    def _ipython_display_(self) -> None:
        self.show()

    # ----- refreshing and waiting -----

    def refresh(self) -> Chat:
        self.info = ChatInfo.model_validate(self._agents.api.request("GET", f"chats/{self.id}"))
        return self

    async def refresh_async(self) -> Chat:
        data = await self._agents.api.arequest("GET", f"chats/{self.id}")
        self.info = ChatInfo.model_validate(data)
        return self

    def _backoff(self) -> Backoff:
        return Backoff(self._agents.poll_first, self._agents.poll_max)

    def wait(self, timeout: float | None = None, *, stop_on_interrupt: bool = True) -> Chat:
        """Block until the chat is done (waiting for you, error, paused...).

        ``timeout`` (seconds) raises ``TimeoutError`` and leaves the chat running.
        Interrupting the wait stops the chat's turn (``stop_on_interrupt=False``: just stop
        waiting) and re-raises ``KeyboardInterrupt``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = self._backoff()
        try:
            status = self.refresh().status
            while not self.done:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"chat {self.id} is still {self.status} after {timeout} s")
                pause = backoff.next()
                if deadline is not None:
                    pause = max(0.0, min(pause, deadline - time.monotonic()))
                time.sleep(pause)
                if self.refresh().status != status:
                    status = self.status
                    backoff.reset()
        except KeyboardInterrupt:
            if stop_on_interrupt:
                with contextlib.suppress(AgentsError):
                    self.stop()
            raise
        return self

    async def wait_async(
        self, timeout: float | None = None, *, stop_on_cancel: bool = True
    ) -> Chat:
        """``wait()`` for asyncio: cancelling it stops the chat's turn (unless told not to)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = self._backoff()
        try:
            status = (await self.refresh_async()).status
            while not self.done:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"chat {self.id} is still {self.status} after {timeout} s")
                pause = backoff.next()
                if deadline is not None:
                    pause = max(0.0, min(pause, deadline - time.monotonic()))
                await asyncio.sleep(pause)
                if (await self.refresh_async()).status != status:
                    status = self.status
                    backoff.reset()
        except asyncio.CancelledError:
            if stop_on_cancel:
                with contextlib.suppress(AgentsError):
                    await asyncio.shield(self.stop_async())
            raise
        return self

    # ----- what it said -----

    def _add_messages(self, rows: list[dict[str, Any]]) -> int:
        known = {m.seq for m in self._messages}
        new = [Message.model_validate(r) for r in rows]
        self._messages.extend(m for m in new if m.seq not in known)
        self._messages.sort(key=lambda m: m.seq)
        return len(rows)

    def _after(self) -> int | None:
        return self._messages[-1].seq if self._messages else None

    @property
    def messages(self) -> list[Message]:
        """Every message so far, oldest first (fetched incrementally)."""
        while True:
            rows = self._agents.api.request(
                "GET", f"chats/{self.id}/messages", params={"after": self._after(), "limit": PAGE}
            )
            if self._add_messages(rows) < PAGE:
                return list(self._messages)

    async def messages_async(self) -> list[Message]:
        while True:
            rows = await self._agents.api.arequest(
                "GET", f"chats/{self.id}/messages", params={"after": self._after(), "limit": PAGE}
            )
            if self._add_messages(rows) < PAGE:
                return list(self._messages)

    @property
    def result(self) -> str | None:
        """The final assistant text of the last turn (None while there is none)."""
        return final_answer(self.messages)

    async def result_async(self) -> str | None:
        return final_answer(await self.messages_async())

    @property
    def usage(self) -> Usage:
        """Tokens (and cost) of this chat; ``tree_usage`` includes its sub-agents."""
        if not self.done:
            self.refresh()
        return self.info.usage

    @property
    def tree_usage(self) -> Usage:
        if not self.done or self.info.tree_usage is None:
            self.refresh()
        return self.info.tree_usage or self.info.usage

    @property
    def cost(self) -> float | None:
        """US dollars (0 when the admin set no prices for the model)."""
        return self.usage.cost

    @property
    def diff(self) -> Diff:
        """Every file the chat (and its sub-agents) changed, as unified diffs."""
        try:
            return Diff.model_validate(self._agents.api.request("GET", f"chats/{self.id}/diff"))
        except AgentsError as exc:
            raise self._diff_error(exc, self._chat_exists()) from None

    async def diff_async(self) -> Diff:
        try:
            data = await self._agents.api.arequest("GET", f"chats/{self.id}/diff")
        except AgentsError as exc:
            try:
                await self.refresh_async()
                exists = True
            except AgentsError:
                exists = False
            raise self._diff_error(exc, exists) from None
        return Diff.model_validate(data)

    def _chat_exists(self) -> bool:
        try:
            self.refresh()
        except AgentsError:
            return False
        return True

    def _diff_error(self, exc: AgentsError, chat_exists: bool) -> AgentsError:
        if exc.status == 404 and chat_exists:
            return AgentsError(
                404,
                "not_supported",
                "This server does not offer chat diffs (GET chats/{id}/diff); update "
                "coder-agents-jupyter on the server to review changes from a notebook.",
                exc.body,
            )
        return exc

    # ----- acting on it -----

    def _message_body(
        self, text: str, plan: bool | None, reasoning_effort: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"content": text}
        if plan is not None:
            body["plan_mode"] = plan
        if reasoning_effort is not None:
            body["reasoning_effort"] = reasoning_effort
        return body

    def send(
        self, text: str, *, plan: bool | None = None, reasoning_effort: str | None = None
    ) -> Chat:
        """Send a follow-up (queued if a turn is running); returns the chat, so
        ``chat.send("...").wait()`` reads naturally."""
        self._agents.api.request(
            "POST", f"chats/{self.id}/messages", self._message_body(text, plan, reasoning_effort)
        )
        return self.refresh()

    async def send_async(
        self, text: str, *, plan: bool | None = None, reasoning_effort: str | None = None
    ) -> Chat:
        await self._agents.api.arequest(
            "POST", f"chats/{self.id}/messages", self._message_body(text, plan, reasoning_effort)
        )
        return await self.refresh_async()

    def stop(self) -> Chat:
        """Interrupt the running turn (the chat becomes ``paused``)."""
        self.info = ChatInfo.model_validate(
            self._agents.api.request("POST", f"chats/{self.id}/stop")
        )
        return self

    async def stop_async(self) -> Chat:
        data = await self._agents.api.arequest("POST", f"chats/{self.id}/stop")
        self.info = ChatInfo.model_validate(data)
        return self

    def retry(self) -> Chat:
        """Run the failed turn again (after ``error``)."""
        self.info = ChatInfo.model_validate(
            self._agents.api.request("POST", f"chats/{self.id}/retry")
        )
        return self

    async def retry_async(self) -> Chat:
        data = await self._agents.api.arequest("POST", f"chats/{self.id}/retry")
        self.info = ChatInfo.model_validate(data)
        return self
