"""One chat's turn, from a claimed ``running`` chat to ``waiting`` (or paused, or error).

``run_chat`` reads like its steps:

1. Load the context (latest summary + what follows). If the last assistant message has tool
   calls without results (the server died while they ran), answer them "interrupted".
2. Repeat: compact if the last reported usage passed the threshold; stream one model call,
   publishing deltas from memory; save the assistant message (one write); if it called tools,
   run them concurrently, save their results (one write) and go on; otherwise end the turn,
   which delivers the next queued message (and goes on) or leaves the chat ``waiting``.
3. A user's stop cancels the task: the partial answer and finished tool results are saved,
   unfinished calls get an explicit "interrupted" result and the chat is ``paused``.

Nothing here is per-token work on the database: deltas go to the bus, messages to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ..db.models import Chat, utcnow
from ..db.models import Message as MessageRow
from ..db.states import ChatStatus
from ..errors import ProviderError
from ..events import (
    ApprovalEvent,
    ClientToolEvent,
    ErrorEvent,
    MessageStartEvent,
    NoticeEvent,
    PlanEvent,
    QuestionEvent,
    ReasoningDeltaEvent,
    RetryEvent,
    TextDeltaEvent,
    ToolCallEvent,
    ToolProgressEvent,
    ToolResultEvent,
    UsageEvent,
)
from ..llm.http import after_request_sent
from ..llm.retry import RetryingProvider, RetryNotice, StreamInterrupted
from ..llm.types import (
    ImageBlock,
    Message,
    ModelRequest,
    ReasoningBlock,
    ReasoningDelta,
    StreamDone,
    TextBlock,
    TextDelta,
    ToolCallBlock,
    ToolCallStarted,
    ToolResultBlock,
    ToolSpec,
    Usage,
)
from ..settings import ModelSettings
from ..tools.agent_tools import agent_tools
from ..tools.base import (
    Tool,
    ToolContext,
    ToolResult,
    invoke_tool,
    parse_args,
    result_budget,
    truncate_middle,
)
from ..tools.kernel_tools import CLIENT_TOOLS, KERNEL_TOOLS, kernel_block
from ..tools.plan_tools import WRITE_TOOLS, check_plan_write, plan_path, plan_tools, written_paths
from ..tools.platform_tools import platform_tools
from ..tools.skill_tools import (
    CONTEXT_KEY,
    WorkspaceContext,
    load_workspace_context,
    tools_for_context,
)
from ..workspaces.base import Workspace
from . import policy, prompts
from .platform import ChatPlatform
from .runtime import Runtime
from .subagents import ChatAgents
from .writer import ChatWriter

PLATFORM_TOOLS = platform_tools()
PLATFORM_TOOL_NAMES = frozenset(t.name for t in PLATFORM_TOOLS)
AGENT_TOOLS = agent_tools()
AGENT_TOOL_NAMES = frozenset(t.name for t in AGENT_TOOLS)
EXPLORE_TOOLS = frozenset(
    {"read_file", "execute", "process_output", "read_skill", "read_skill_file"}
)
"""What an explore sub-agent may use: it investigates, it does not change files."""
PLAN_TOOLS = plan_tools()

log = logging.getLogger(__name__)

INTERRUPTED_BY_RESTART = (
    "Interrupted: the server restarted while this tool call was running. It may or may not "
    "have completed; check the current state before running it again."
)
INTERRUPTED_BY_USER = "Interrupted: the user stopped the agent before this tool call finished."

StopReason = Literal["user", "shutdown"]
When = Literal["now", "behind"]

_ROW_DEFAULTS: dict[str, Any] = {
    "usage": None,
    "model": None,
    "is_summary": False,
    "summary_through_seq": None,
}


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """The same objects, one by one (memo keys: identity, not equality)."""
    return all(x is y for x, y in zip(a, b, strict=True))


def _blocks(message: Message) -> list[dict[str, Any]]:
    return [b.model_dump(exclude_none=True) for b in message.content]


@dataclass
class _Step:
    """What is in flight, so a stop can save it."""

    text: str = ""
    reasoning: str = ""
    streaming: bool = False
    summary: bool = False
    """A compaction summary is streaming: a stop discards it rather than saving it."""
    calls: list[ToolCallBlock] = field(default_factory=list)
    results: dict[str, ToolResult] = field(default_factory=dict)


class ChatRun:
    """Runs one claimed chat until its turn ends. ``stop_reason`` is set before cancelling."""

    def __init__(self, rt: Runtime, chat_id: str) -> None:
        self.rt = rt
        self.chat_id = chat_id
        self.stop_reason: StopReason | None = None
        self.history: list[MessageRow] = []
        self.step = _Step()
        self.owner = ""
        self._chat: Chat | None = None
        self._chat_loaded = 0.0
        self._workspace: Workspace | None = None
        self._ws_context: WorkspaceContext | None = None
        self._converted: dict[int, Message] = {}  # by seq: rows never change, convert once
        self._seq = 0
        self.writer = ChatWriter(rt, chat_id, self.publish, self._get_workspace)
        self._offered: tuple[tuple[Any, ...], list[Tool]] | None = None
        self._preambled: tuple[tuple[Any, ...], int, tuple[str, list[ToolSpec]]] | None = None
        self._messages: tuple[list[MessageRow], list[Message]] | None = None

    def publish(self, event: Any) -> None:
        self.rt.bus.publish(self.chat_id, event)

    def save(self, role: str, content: list[dict[str, Any]], **fields: Any) -> MessageRow:
        """Record a message: in the history at once, in the database in order, now."""
        return self._save(role, content, None, "now", fields)

    def save_message(self, message: Message, *, when: When = "now", **fields: Any) -> MessageRow:
        """``save`` of a message already validated (the model gets it as it is), written
        ``when`` the writer is told (``ChatWriter``: now, or behind the next model call)."""
        return self._save(message.role, _blocks(message), message, when, fields)

    def _save(
        self,
        role: str,
        content: list[dict[str, Any]],
        message: Message | None,
        when: When,
        fields: dict[str, Any],
    ) -> MessageRow:
        self._seq += 1
        if message is not None:
            self._converted[self._seq] = message
        row = MessageRow(
            chat_id=self.chat_id,
            seq=self._seq,
            role=role,
            content=content,
            created_at=utcnow(),
            **{**_ROW_DEFAULTS, **fields},
        )
        self.history.append(row)
        getattr(self.writer, when)(row)
        return row

    async def flush(self) -> None:
        await self.writer.flush()

    async def _record_change(
        self, path: str, before: bytes | int | None, after: bytes | None
    ) -> None:
        self.writer.change(path, before, after)

    # ----- the turn -----

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            if self.stop_reason == "user":
                self._save_interrupted(INTERRUPTED_BY_USER)
                await self.flush()
                await self.rt.store.end_turn(self.chat_id, ChatStatus.PAUSED)
                return
            with contextlib.suppress(Exception):  # keep what is already decided, then requeue
                await self.flush()
            raise  # shutdown or lost lease: the chat is requeued, recovery finishes it
        except ProviderError as exc:
            await self._fail(exc.describe(), kind=exc.kind)
        except Exception as exc:
            log.exception("chat %s failed", self.chat_id)
            await self._fail(f"internal error: {type(exc).__name__}", kind="internal")

    async def _fail(self, message: str, *, kind: str) -> None:
        error = {"kind": kind, "message": message}
        self._save_interrupted("Interrupted: the turn failed before this tool call ran.")
        try:
            await self.flush()
        except Exception:
            log.exception("chat %s: saving its last messages failed", self.chat_id)
        self.publish(ErrorEvent(error=error))
        await self.rt.store.end_turn(self.chat_id, ChatStatus.ERROR, error=error)

    async def _run(self) -> None:
        self._seq = (await self.rt.store.load(self.chat_id)).message_count
        self.history = await self.rt.store.context_messages(self.chat_id)
        self._answer_orphaned_calls()
        steps = 0
        while True:
            steps += 1
            if steps > self.rt.settings.limits.max_steps_per_turn:
                raise ProviderError(
                    f"the turn was stopped after {steps - 1} model steps (the admin's limit)",
                    provider="coder-agents",
                    kind="limit",
                )
            model = await self._model()
            await self._maybe_compact(model)
            reply = await self._model_step(model)
            calls = reply.tool_calls()
            if calls and not await self._run_tools(calls, model):
                continue
            await self.flush()
            next_message = await self.rt.store.finish_turn(self.chat_id)
            if next_message is None:
                return
            self._seq = next_message.seq
            self.history.append(next_message)
            self._ws_context = None  # a new turn reads the workspace's instructions afresh

    async def _model(self) -> ModelSettings:
        """The chat's model, re-read at most every second so a PATCH or a policy change
        applies at the next step without a database read per step."""
        now = time.monotonic()
        if self._chat is None or now - self._chat_loaded > 1.0:
            self._chat, self._chat_loaded = await self.rt.store.load(self.chat_id), now
            self.owner = self._chat.owner
        model = self.rt.model_for(self._chat)
        if model.id != self._chat.model:  # an admin disabled it: continue, and say so
            old, self._chat.model = self._chat.model, model.id
            await self.rt.store.switch_model(self.chat_id, model.id)
            self.publish(
                NoticeEvent(
                    message=f"The model {old} is no longer available; continuing with {model.id}."
                )
            )
            log.info("chat %s: model %s is gone, using %s", self.chat_id, old, model.id)
        return model

    def _answer_orphaned_calls(self) -> None:
        last = self.history[-1] if self.history else None
        if last is None or last.role != "assistant":
            return
        calls = [b for b in last.content if b.get("type") == "tool_call"]
        if calls:
            results = [
                ToolResultBlock(tool_call_id=c["id"], content=INTERRUPTED_BY_RESTART, is_error=True)
                for c in calls
            ]
            self.save_message(Message(role="tool", content=results))

    # ----- one model call -----

    async def _request(
        self, model: ModelSettings, extra: list[Message] | None = None, *, with_tools: bool = True
    ) -> ModelRequest:
        if with_tools:
            await self._workspace_context()
            system, specs = self._preamble()
        else:
            system, specs = self._system([], with_context=False), []
        # Built from parts already validated (the messages once each): not re-validated at
        # every step.
        return ModelRequest.model_construct(
            model=model.vendor_model,
            system=system,
            messages=await self._model_messages() + (extra or []),
            tools=specs,
            max_output_tokens=model.max_output_tokens,
            temperature=model.temperature,
            reasoning_effort=model.effort(self._chat.reasoning_effort if self._chat else None),
            web_search=model.web_search,
        )

    def _preamble(self) -> tuple[str, list[ToolSpec]]:
        """The system prompt and tool specs of a step, worked out again only when what they
        depend on was replaced (like ``_tools``) or the day changed."""
        key = (self._chat, self.rt.settings, self._ws_context)
        day = prompts.today()
        memo = self._preambled
        if memo is not None and memo[1] == day and _same(memo[0], key):
            return memo[2]
        tools = self._tools()
        value = self._system(tools, with_context=True), [t.spec() for t in tools]
        self._preambled = (key, day, value)
        return value

    def _system(self, tools: list[Tool], *, with_context: bool) -> str:
        context = self._ws_context.prompt_block() if with_context and self._ws_context else ""
        chat = self._chat
        if chat is not None and chat.parent_id is not None:
            context = "\n\n".join(filter(None, [prompts.subagent_block(chat.agent_type), context]))
        plan = prompts.plan_block(plan_path(self.chat_id)) if chat and chat.plan_mode else ""
        return "\n\n".join(
            filter(
                None,
                [
                    self.rt.settings.system_prompt,
                    prompts.runtime_block(self.rt.root_dir),
                    context,
                    self._kernel_prompt(tools),
                    plan,
                ],
            )
        )

    async def _model_messages(self) -> list[Message]:
        """The history as model messages. The history only grows between compactions (which
        replace the list), so the converted prefix is kept and only new rows are added."""
        history = self.history
        memo = self._messages
        if memo is None or memo[0] is not history:
            memo = self._messages = (history, [])
        done = memo[1]
        for row in history[len(done) :]:
            done.append(await self._to_model(row))
        return list(done)

    async def _to_model(self, row: MessageRow) -> Message:
        msg = self._converted.get(row.seq)
        if msg is None:
            msg = self._converted[row.seq] = await self._convert(row)
        return msg

    async def _convert(self, row: MessageRow) -> Message:
        msg = Message.model_validate({"role": row.role, "content": row.content})
        if row.is_summary:
            return Message(role="user", content=[TextBlock(text=msg.text())])
        for block in msg.content:
            if isinstance(block, ImageBlock) and block.data is None:
                found = await self.rt.image_data(block.attachment_id)
                if found:
                    block.media_type, block.data = found
        return msg

    async def _stream(
        self, request: ModelRequest, provider_name: str, *, summary: bool = False
    ) -> StreamDone:
        """One model call, retried by the admin's policy. Each retry is a ``retry`` event; a
        retry after deltas were shown also means "drop the preview", and a fresh
        ``message_start`` follows."""
        provider = RetryingProvider(
            self.rt.provider(provider_name), self.rt.retry_policy(), self._on_retry
        )
        first = 1
        while True:
            try:
                # The last step is written down while the vendor works on this one.
                with after_request_sent(self.writer.release):
                    return await self._stream_once(provider, request, summary, first)
            except StreamInterrupted as exc:
                self.step = _Step()  # the partial answer is discarded, never saved
                first = await provider.wait_to_restart(exc)

    def _on_retry(self, notice: RetryNotice) -> None:
        self.publish(
            RetryEvent(
                attempt=notice.attempt, delay_seconds=notice.delay_seconds, reason=notice.reason
            )
        )

    async def _stream_once(
        self, provider: RetryingProvider, request: ModelRequest, summary: bool, first: int
    ) -> StreamDone:
        self.step = _Step(streaming=True, summary=summary)
        self.publish(MessageStartEvent(role="assistant"))
        reasoning_started: float | None = None
        # Closed here once the answer is in, not left to the garbage collector's finalizer.
        async with contextlib.aclosing(provider.stream(request, first_attempt=first)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    self.step.text += event.text
                    self.publish(TextDeltaEvent(text=event.text))
                elif isinstance(event, ReasoningDelta):
                    reasoning_started = reasoning_started or time.monotonic()
                    self.step.reasoning += event.text
                    self.publish(ReasoningDeltaEvent(text=event.text))
                elif isinstance(event, ToolCallStarted):
                    self.publish(ToolCallEvent(id=event.id, name=event.name, state="started"))
                elif isinstance(event, StreamDone):
                    self.step.streaming = False
                    for block in event.message.content:
                        if isinstance(block, ReasoningBlock) and reasoning_started:
                            block.duration_ms = int((time.monotonic() - reasoning_started) * 1000)
                    return event
        raise ProviderError(
            "the stream ended without a final message",
            provider=provider.name,
            kind="connection",
            retryable=True,
        )

    async def _model_step(self, model: ModelSettings) -> Message:
        try:
            done = await self._stream(await self._request(model), model.provider)
        except ProviderError as exc:
            # A context overflow is what compaction is for: compact, then try once more.
            if exc.kind != "context_overflow" or not await self._maybe_compact(model, force=True):
                raise
            done = await self._stream(await self._request(model), model.provider)
        reply = done.message
        if not reply.content:
            reply.content = [TextBlock(text="")]
        usage = self._usage(done.usage, model)
        # With its tool results, while the model works on the next call.
        self.save_message(reply, when="behind", usage=usage, model=model.id)
        self.publish(
            UsageEvent(
                usage=usage,
                context_tokens=done.usage.context_tokens,
                context_window=model.context_window,
            )
        )
        self.step = _Step()
        return reply

    @staticmethod
    def _usage(usage: Usage, model: ModelSettings) -> dict[str, int]:
        """What one call used, with its cost at the model's current prices."""
        out = usage.model_dump()
        out["cost_micros"] = model.cost_micros(out)
        return out

    # ----- tools -----

    async def _run_tools(self, calls: list[ToolCallBlock], model: ModelSettings) -> bool:
        """Run one step's tool calls concurrently (after any approvals they need) and save
        their results. Returns whether the turn now waits for the user (a plan or questions)."""
        self.step = _Step(calls=calls)
        ctx = ToolContext(
            chat_id=self.chat_id,
            owner=self.owner,
            get_workspace=self._get_workspace,
            save_attachment=self._save_attachment,
            result_budget=result_budget(model.context_window),
            record_change=self._record_change,
            extra={
                "platform": self._platform(),
                "agents": self._agents(),
                CONTEXT_KEY: self._ws_context,
            },
        )
        tools = {t.name: t for t in self._tools()}
        refusals = await self._approvals(calls)
        client: dict[str, dict[str, Any]] = {}  # call id -> the arguments the client gets
        for call in calls:
            if call.name in CLIENT_TOOLS and call.name in tools and call.id not in refusals:
                args = parse_args(tools[call.name], call.input)
                if isinstance(args, ToolResult):
                    refusals[call.id] = args.content
                else:
                    client[call.id] = args.model_dump()

        async def one(call: ToolCallBlock) -> None:
            self.publish(ToolCallEvent(id=call.id, name=call.name, input=call.input))
            if call.id in client:
                return  # the user's client runs it (``_client_tools``)

            async def progress(text: str) -> None:
                self.publish(ToolProgressEvent(tool_call_id=call.id, text=text))

            refusal = refusals.get(call.id) or self._root_only(call) or await self._plan_guard(call)
            if refusal is not None:
                result = ToolResult(content=refusal, is_error=True)
            else:
                call_ctx = dataclasses.replace(ctx, progress=progress)
                result = await invoke_tool(tools, call.name, call.input, call_ctx)
            self.step.results[call.id] = result
            self.publish(
                ToolResultEvent(
                    tool_call_id=call.id,
                    content=result.content,
                    is_error=result.is_error,
                    display=result.display,
                )
            )

        client_calls = [c for c in calls if c.id in client]
        if len(calls) == 1 and not client_calls:
            await one(calls[0])  # the usual step: no tasks to schedule
        else:
            await asyncio.gather(
                *(one(c) for c in calls),
                self._client_tools(client_calls, client, ctx.result_budget),
            )
        results, self.step = self.step.results, _Step()
        # Written while the model works on the next call.
        self.save_message(self._results_message(calls, results, ""), when="behind")
        return await self._hand_over(calls, results)

    def _root_only(self, call: ToolCallBlock) -> str | None:
        if self._chat is None or self._chat.parent_id is None:
            return None
        if call.name in AGENT_TOOL_NAMES:
            return "Sub-agents cannot start or manage agents; put what you need in your report."
        if call.name in PLATFORM_TOOL_NAMES:
            return (
                "Sub-agents cannot create or start workspaces; say in your report that "
                "the parent should."
            )
        return None

    async def _plan_guard(self, call: ToolCallBlock) -> str | None:
        if not (self._chat and self._chat.plan_mode and call.name in WRITE_TOOLS):
            return None
        ws = await self._get_workspace()
        await ws.connect()
        return await check_plan_write(ws, self.chat_id, written_paths(call.name, call.input))

    async def _hand_over(self, calls: list[ToolCallBlock], results: dict[str, ToolResult]) -> bool:
        """A proposed plan or questions end the turn: record what the chat awaits, say so."""
        for call in calls:
            result = results.get(call.id)
            if not policy.ends_turn(call.name) or result is None or result.is_error:
                continue
            display = result.display or {}
            if call.name == "propose_plan":
                awaiting = {"kind": "plan", "tool_call_id": call.id, "path": display["path"]}
                self.publish(
                    PlanEvent(tool_call_id=call.id, plan=display["plan"], path=display["path"])
                )
            else:
                awaiting = {
                    "kind": "question",
                    "question_id": call.id,
                    "questions": display["questions"],
                }
                self.publish(QuestionEvent(question_id=call.id, questions=display["questions"]))
            await self.flush()
            await self.rt.store.set_awaiting(self.chat_id, awaiting)
            return True
        return False

    async def _approvals(self, calls: list[ToolCallBlock]) -> dict[str, str]:
        """Wait for a person to decide on every call the policy says to ask about. Returns the
        refusal text of each rejected call."""
        chat = self._chat
        asks = [
            c
            for c in calls
            if chat is not None and policy.effective_policy(self.rt.settings, chat, c.name) == "ask"
        ]
        if not asks:
            return {}
        await self.flush()  # the calls are in the history before anyone is asked
        pending = [{"tool_call_id": c.id, "name": c.name, "input": c.input} for c in asks]
        await self.rt.store.await_approvals(self.chat_id, pending)
        for item in pending:
            self.publish(ApprovalEvent(**item))
        while True:
            chat = await self.rt.store.load(self.chat_id)
            decisions = (chat.awaiting or {}).get("decisions", {})
            if all(c.id in decisions for c in asks):
                break
            await self.rt.bus.wait_for_change(self.chat_id, timeout=1.0)
        self._chat, self._chat_loaded = chat, time.monotonic()
        await self.rt.store.set_awaiting(self.chat_id, None)
        refusals = {}
        for call in asks:
            decision = decisions[call.id]
            if decision["decision"] == "reject":
                reason = decision.get("reason") or "no reason given"
                refusals[call.id] = f"The user rejected this call: {reason}"
        return refusals

    async def _client_tools(
        self, calls: list[ToolCallBlock], inputs: dict[str, dict[str, Any]], budget: int
    ) -> None:
        """Hand ``calls`` to the user's client (their notebook's kernel) and wait, like an
        approval, until it posted every result; a stop cancels the wait like any tool."""
        if not calls:
            return
        notebook = str(((self._chat.kernel if self._chat else None) or {}).get("notebook", ""))
        pending = [
            {"tool_call_id": c.id, "name": c.name, "input": inputs[c.id], "notebook": notebook}
            for c in calls
        ]
        await self.flush()  # the calls are in the history before the client runs them
        await self.rt.store.await_client_tools(self.chat_id, pending)
        for item in pending:
            self.publish(ClientToolEvent(**item))
        while True:
            chat = await self.rt.store.load(self.chat_id)
            awaiting = chat.awaiting or {}
            results = awaiting.get("results", {}) if awaiting.get("kind") == "client_tool" else {}
            if all(c.id in results for c in calls):
                break
            await self.rt.bus.wait_for_change(self.chat_id, timeout=1.0)
        await self.rt.store.set_awaiting(self.chat_id, None)
        for call in calls:
            raw = results[call.id]
            result = ToolResult(
                content=truncate_middle(
                    str(raw.get("content", "")),
                    budget,
                    hint="inspect fewer names or print less",
                ),
                is_error=bool(raw.get("is_error")),
            )
            self.step.results[call.id] = result
            self.publish(
                ToolResultEvent(
                    tool_call_id=call.id, content=result.content, is_error=result.is_error
                )
            )

    @staticmethod
    def _results_message(
        calls: list[ToolCallBlock], results: dict[str, ToolResult], missing: str
    ) -> Message:
        blocks = []
        for call in calls:
            r = results.get(call.id) or ToolResult(content=missing, is_error=True)
            blocks.append(
                ToolResultBlock(
                    tool_call_id=call.id, content=r.content, is_error=r.is_error, display=r.display
                )
            )
        return Message(role="tool", content=blocks)

    def _tools(self) -> list[Tool]:
        """Workspace tools; platform tools for root chats with templates to use; plan tools in
        plan mode; minus what the tool policy denies. Worked out again only when what it
        depends on was replaced (a reloaded chat, new admin settings, a new turn)."""
        key = (self._chat, self.rt.settings, self._ws_context)
        memo = self._offered
        if memo is not None and _same(memo[0], key):
            return memo[1]
        tools = self._work_out_tools()
        self._offered = (key, tools)
        return tools

    def _work_out_tools(self) -> list[Tool]:
        tools = list(self.rt.tools) + tools_for_context(self._ws_context)
        chat = self._chat
        if chat is None:
            return tools
        if chat.parent_id is None:
            tools += AGENT_TOOLS
            if self._platform_templates():
                tools += PLATFORM_TOOLS
            if self._kernel_notebook():
                tools += KERNEL_TOOLS
        elif chat.agent_type == "explore":
            tools = [t for t in tools if t.name in EXPLORE_TOOLS]
        return policy.offered(tools, PLAN_TOOLS, self.rt.settings, chat)

    def _kernel_notebook(self) -> str:
        """The notebook whose kernel this chat may use: consented to by its user, allowed
        by the admin, root chats only; else ""."""
        chat = self._chat
        if chat is None or chat.parent_id is not None or not self.rt.settings.kernel_tools:
            return ""
        return str((chat.kernel or {}).get("notebook") or "")

    def _kernel_prompt(self, tools: list[Tool]) -> str:
        offered = [t.name for t in tools if t.name in CLIENT_TOOLS]
        return kernel_block(self._kernel_notebook(), offered) if offered else ""

    def _platform_templates(self) -> bool:
        groups = (self._chat.owner_info or {}).get("groups", ()) if self._chat else ()
        return any(t.visible_to.allows(self.owner, groups) for t in self.rt.settings.templates)

    def _agents(self) -> ChatAgents | None:
        if self._chat is None or self._chat.parent_id is not None:
            return None
        return ChatAgents(self.rt, self._chat)

    def _platform(self) -> ChatPlatform | None:
        if self._chat is None or self._chat.parent_id is not None:
            return None
        return ChatPlatform(
            self.rt, self.chat_id, self.owner, self._chat.owner_info or {}, self._workspace_changed
        )

    async def _workspace_changed(self) -> None:
        self._workspace = None
        self._ws_context = None
        self.writer.workspace_changed()

    async def _workspace_context(self) -> WorkspaceContext:
        """AGENTS.md and the skills index of the chat's workspace, read once per turn."""
        if self._ws_context is None:
            self._ws_context = await load_workspace_context(self._get_workspace)
        return self._ws_context

    async def _get_workspace(self) -> Workspace:
        """Resolved on the first tool call that needs it, then kept for the turn."""
        if self._workspace is None:
            self._workspace = await self.rt.workspace_for(self.chat_id)
        return self._workspace

    async def _save_attachment(self, name: str, media_type: str, data: bytes) -> str:
        att = await self.rt.store.save_attachment(self.owner, name, media_type, data, self.chat_id)
        return att.id

    def _save_interrupted(self, missing: str) -> None:
        """Persist what a stopped or failed step had: partial text, finished tool results."""
        step, self.step = self.step, _Step()
        if step.calls:
            self.save_message(self._results_message(step.calls, step.results, missing))
        elif step.streaming and not step.summary and (step.text or step.reasoning):
            content: list[dict[str, Any]] = []
            if step.reasoning:
                content.append({"type": "reasoning", "text": step.reasoning})
            if step.text:
                content.append({"type": "text", "text": step.text})
            self.save("assistant", content)

    # ----- compaction -----

    async def _maybe_compact(self, model: ModelSettings, *, force: bool = False) -> bool:
        """Summarise the history when the last call used too much of the context window (or
        when ``force``d). Returns whether it did."""
        last = next((m for m in reversed(self.history) if m.role == "assistant" and m.usage), None)
        used = Usage.model_validate(last.usage).context_tokens if last else 0
        if not force and used < model.compaction_threshold * model.context_window:
            return False
        # Trailing user messages the model has not answered stay verbatim after the summary.
        cut = len(self.history)
        while (
            cut > 0
            and self.history[cut - 1].role == "user"
            and not self.history[cut - 1].is_summary
        ):
            cut -= 1
        if cut == 0:
            return False
        keep, self.history = self.history[cut:], self.history[:cut]
        try:
            ask = Message(role="user", content=[TextBlock(text=prompts.COMPACTION_PROMPT)])
            request = await self._request(model, [ask], with_tools=False)
            done = await self._stream(request, model.provider, summary=True)
        finally:
            self.history += keep
        summary = prompts.SUMMARY_PREFIX + done.message.text().strip()
        row = self.save(
            "user",
            [{"type": "text", "text": summary}],
            usage=self._usage(done.usage, model),
            model=model.id,
            is_summary=True,
            summary_through_seq=self.history[cut - 1].seq,
        )
        self.history = [row, *keep]
        log.info("chat %s compacted at %d of %d tokens", self.chat_id, used, model.context_window)
        return True
