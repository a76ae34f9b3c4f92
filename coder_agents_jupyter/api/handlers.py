"""REST and WebSocket handlers: parse, call one service verb, finish.

Who the caller is, and what errors look like on the wire, are decided here once
(``BaseHandler.caller``, ``api_verb``). Everything else lives in ``agent.service``.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel, ValidationError
from tornado import web, websocket

from ..agent.service import ChatService, workspace_json
from ..db.models import message_json
from ..db.store import Caller, queue_item
from ..errors import ApiError, BadRequest
from ..settings import SETUP_HINT
from . import schemas
from .openapi import openapi_document

AUTH_RESOURCE = "coder_agents"
PREFIX = r"/coder-agents/api/v1"
SINGLE_USER_PROVIDERS = (IdentityProvider, PasswordIdentityProvider)

B = TypeVar("B", bound=BaseModel)
Verb = Callable[..., Awaitable[None]]


def api_verb(method: Verb) -> Verb:
    """Authenticate, authorize, and turn domain errors into the JSON error shape."""

    @web.authenticated
    @authorized
    @functools.wraps(method)
    async def wrapper(self: BaseHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except ApiError as exc:
            self.fail(exc.status, exc.code, exc.message)

    return wrapper


class _Identity:
    """Maps Jupyter's user to the chat owner name, in one place."""

    def caller(self) -> Caller:
        handler: JupyterHandler = self  # type: ignore[assignment]
        app = handler.extensionapp  # type: ignore[attr-defined]
        # With the stock token/password identity, every token holder is the server's single
        # owner; such users get a fresh random name per request, so use the configured owner.
        user = handler.current_user
        if type(handler.identity_provider) in SINGLE_USER_PROVIDERS:
            name, display = app.owner, app.owner
        else:
            name, display = user.username, user.display_name or user.name or user.username
        groups = set(getattr(user, "groups", None) or ()) | set(app.user_groups.get(name, ()))
        return Caller(
            name=name,
            is_admin=name in self.service.rt.settings.admin_users,
            display_name=display,
            email=app.git_email.format(username=name),
            groups=frozenset(groups),
        )

    @property
    def service(self) -> ChatService:
        return self.extensionapp.service  # type: ignore[attr-defined, no-any-return]

    async def start_service(self) -> None:
        await self.extensionapp.ensure_started()  # type: ignore[attr-defined]


class BaseHandler(_Identity, ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        await self.start_service()

    def fail(self, status: int, code: str, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"code": code, "message": message}}))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code >= 500:
            message = "Internal error; see the server log."
        else:
            message = self._reason
        code = {
            400: "bad_request",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            409: "conflict",
        }.get(status_code, "error")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"code": code, "message": message}}))

    def body(self, model: type[B]) -> B:
        try:
            data = json.loads(self.request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"The request body is not valid JSON: {exc}.") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise BadRequest(f"Invalid request: {problems}.") from None

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def int_arg(
        self, name: str, default: int | None = None, *, low: int = 0, high: int = 10_000
    ) -> int | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"The query parameter {name} must be an integer.") from None
        if not low <= value <= high:
            raise BadRequest(f"The query parameter {name} must be between {low} and {high}.")
        return value


# ----- models, providers -----


class ModelsHandler(BaseHandler):
    @api_verb
    async def get(self) -> None:
        settings = self.service.rt.settings
        default = settings.default_model()
        models = [
            {
                "id": m.id,
                "provider": m.provider,
                "display_name": m.display_name or m.id,
                "context_window": m.context_window,
                "supports_images": m.supports_images,
                "default": default is not None and m.id == default.id,
                "reasoning_efforts": m.efforts(),
                "default_reasoning_effort": m.effort(None),
                "prices": m.prices.model_dump() if m.prices else None,
                "web_search": m.web_search,
            }
            for m in settings.available_models()
        ]
        if not models:
            self.set_header("X-Coder-Agents-Setup-Hint", SETUP_HINT)
        self.reply(models)


class ProvidersHandler(BaseHandler):
    @api_verb
    async def get(self) -> None:
        settings = self.service.rt.settings
        hint = None if settings.available_models() else SETUP_HINT
        self.reply(
            {"providers": [s.model_dump() for s in settings.provider_status()], "hint": hint}
        )


# ----- chats -----


class ChatsHandler(BaseHandler):
    @api_verb
    async def get(self) -> None:
        before_raw = self.get_query_argument("before", None)
        try:
            before = datetime.fromisoformat(before_raw) if before_raw else None
        except ValueError:
            raise BadRequest("The query parameter before must be an ISO 8601 time.") from None
        chats = await self.service.store.list_chats(
            self.caller(),
            status=self.get_query_argument("status", None),
            parent_id=self.get_query_argument("parent_id", None),
            limit=self.int_arg("limit", 50, low=1, high=500) or 50,
            before=before,
        )
        self.reply(await self.service.chats_json(chats))

    @api_verb
    async def post(self) -> None:
        body = self.body(schemas.CreateChat)
        chat = await self.service.create_chat(
            self.caller(),
            prompt=body.prompt,
            model=body.model,
            workspace_id=body.workspace_id,
            plan_mode=body.plan_mode,
            attachments=body.attachments,
            reasoning_effort=body.reasoning_effort,
        )
        self.set_header("Location", f"{self.base_url}coder-agents/api/v1/chats/{chat.id}")
        self.reply(await self.service.chat_json(chat), 201)


class ChatHandler(BaseHandler):
    @api_verb
    async def get(self, chat_id: str) -> None:
        chat = await self.service.store.get_chat(self.caller(), chat_id)
        self.reply(await self.service.chat_json(chat))

    @api_verb
    async def patch(self, chat_id: str) -> None:
        body = self.body(schemas.UpdateChat)
        chat = await self.service.update(
            self.caller(),
            chat_id,
            title=body.title,
            model=body.model,
            plan_mode=body.plan_mode,
            reasoning_effort=body.reasoning_effort,
            workspace_id=body.workspace_id,
            tool_policy=body.tool_policy,
            kernel=body.kernel.model_dump() if body.kernel else None,
            set_kernel="kernel" in body.model_fields_set,
        )
        self.reply(await self.service.chat_json(chat))

    @api_verb
    async def delete(self, chat_id: str) -> None:
        await self.service.archive(self.caller(), chat_id)
        self.set_status(204)
        self.finish()


class MessagesHandler(BaseHandler):
    @api_verb
    async def get(self, chat_id: str) -> None:
        rows = await self.service.store.list_messages(
            self.caller(),
            chat_id,
            after=self.int_arg("after", None, high=2**31),
            before=self.int_arg("before", None, high=2**31),
            limit=self.int_arg("limit", 500, low=1, high=5000) or 500,
        )
        self.reply([message_json(r) for r in rows])

    @api_verb
    async def post(self, chat_id: str) -> None:
        body = self.body(schemas.SendMessage)
        queued, item = await self.service.send(
            self.caller(),
            chat_id,
            body.content,
            body.attachments,
            body.reasoning_effort,
            body.plan_mode,
        )
        self.reply(_sent(queued, item), 202 if queued else 201)


class QueueHandler(BaseHandler):
    @api_verb
    async def get(self, chat_id: str) -> None:
        items = await self.service.store.list_queue(self.caller(), chat_id)
        self.reply([queue_item(q) for q in items])


class QueueItemHandler(BaseHandler):
    @api_verb
    async def patch(self, chat_id: str, qid: str) -> None:
        body = self.body(schemas.EditQueued)
        item = await self.service.store.edit_queued(
            self.caller(), chat_id, int(qid), [{"type": "text", "text": body.content}]
        )
        self.reply(queue_item(item))

    @api_verb
    async def delete(self, chat_id: str, qid: str) -> None:
        await self.service.store.delete_queued(self.caller(), chat_id, int(qid))
        self.set_status(204)
        self.finish()


class SendNowHandler(BaseHandler):
    @api_verb
    async def post(self, chat_id: str, qid: str) -> None:
        chat = await self.service.send_now(self.caller(), chat_id, int(qid))
        self.reply(await self.service.chat_json(chat))


class StopHandler(BaseHandler):
    @api_verb
    async def post(self, chat_id: str) -> None:
        chat = await self.service.stop(self.caller(), chat_id)
        self.reply(await self.service.chat_json(chat), 202)


class RetryHandler(BaseHandler):
    @api_verb
    async def post(self, chat_id: str) -> None:
        chat = await self.service.store.retry(self.caller(), chat_id)
        self.reply(await self.service.chat_json(chat), 202)


def _sent(queued: bool, item: dict[str, Any]) -> dict[str, Any]:
    return {"queued": queued, ("queued_message" if queued else "message"): item}


class PlanHandler(BaseHandler):
    @api_verb
    async def post(self, chat_id: str) -> None:
        body = self.body(schemas.PlanDecision)
        queued, item = await self.service.decide_plan(
            self.caller(), chat_id, body.decision, body.feedback
        )
        self.reply(_sent(queued, item), 202 if queued else 201)


class AnswersHandler(BaseHandler):
    @api_verb
    async def post(self, chat_id: str) -> None:
        body = self.body(schemas.Answers)
        queued, item = await self.service.answer(
            self.caller(), chat_id, body.question_id, body.answers
        )
        self.reply(_sent(queued, item), 202 if queued else 201)


class ApprovalsHandler(BaseHandler):
    @api_verb
    async def post(self, chat_id: str) -> None:
        body = self.body(schemas.ApprovalDecision)
        chat = await self.service.store.decide_approval(
            self.caller(), chat_id, body.tool_call_id, body.decision, body.reason
        )
        self.reply(await self.service.chat_json(chat))


class ToolResultsHandler(BaseHandler):
    @api_verb
    async def post(self, chat_id: str) -> None:
        body = self.body(schemas.ClientToolResult)
        chat = await self.service.store.record_tool_result(
            self.caller(), chat_id, body.tool_call_id, body.content, body.is_error
        )
        self.reply(await self.service.chat_json(chat))


class ForkHandler(BaseHandler):
    @api_verb
    async def post(self, chat_id: str) -> None:
        body = self.body(schemas.Fork)
        chat = await self.service.store.fork(self.caller(), chat_id, body.message_id)
        self.reply(await self.service.chat_json(chat), 201)


# ----- attachments -----


class AttachmentsHandler(BaseHandler):
    @api_verb
    async def post(self) -> None:
        files = self.request.files.get("file") or [
            f for fs in self.request.files.values() for f in fs
        ]
        if files:
            upload = files[0]
            name, declared, data = upload.filename, upload.content_type, upload.body
        elif self.request.body and not self.request.headers.get("Content-Type", "").startswith(
            "multipart/"
        ):
            name = self.get_query_argument("name", "image")
            declared, data = self.request.headers.get("Content-Type"), self.request.body
        else:
            raise BadRequest("Send the image as multipart/form-data in a field named file.")
        att = await self.service.upload(self.caller(), name, declared, data)
        self.reply(
            {"id": att.id, "name": att.name, "media_type": att.media_type, "size": att.size}, 201
        )


class AttachmentHandler(BaseHandler):
    @api_verb
    async def get(self, attachment_id: str) -> None:
        att = await self.service.store.get_attachment(self.caller(), attachment_id)
        inline = att.media_type in ("image/png", "image/jpeg", "image/gif", "image/webp")
        self.set_header("Content-Type", att.media_type)
        self.set_header("X-Content-Type-Options", "nosniff")
        disposition = "inline" if inline else "attachment"
        self.set_header(
            "Content-Disposition", f"{disposition}; filename*=UTF-8''{quote(att.name, safe='')}"
        )
        self.finish(att.data)


# ----- workspaces -----


class WorkspacesHandler(BaseHandler):
    @api_verb
    async def get(self) -> None:
        rows = await self.service.store.list_workspaces(self.caller())
        self.reply([workspace_json(w) for w in rows])

    @api_verb
    async def post(self) -> None:
        body = self.body(schemas.CreateWorkspace)
        ws = await self.service.create_workspace(
            self.caller(), body.name, body.path, body.template, body.parameters
        )
        self.reply(workspace_json(ws), 201)


class WorkspaceHandler(BaseHandler):
    @api_verb
    async def get(self, workspace_id: str) -> None:
        ws = await self.service.store.get_workspace(self.caller(), workspace_id)
        self.reply(workspace_json(ws))

    @api_verb
    async def delete(self, workspace_id: str) -> None:
        await self.service.delete_workspace(self.caller(), workspace_id)
        self.set_status(204)
        self.finish()


class WorkspaceStartHandler(BaseHandler):
    @api_verb
    async def post(self, workspace_id: str) -> None:
        ws = await self.service.start_workspace(self.caller(), workspace_id)
        self.reply(workspace_json(ws))


class TemplatesHandler(BaseHandler):
    @api_verb
    async def get(self) -> None:
        self.reply([t.detail() for t in self.service.templates(self.caller())])


class TemplateHandler(BaseHandler):
    @api_verb
    async def get(self, name: str) -> None:
        self.reply(self.service.template(self.caller(), name).detail())


class OpenAPIHandler(BaseHandler):
    @api_verb
    async def get(self) -> None:
        self.reply(openapi_document(f"{self.base_url}coder-agents/api/v1"))


# ----- live events -----


class EventsSocket(_Identity, ExtensionHandlerMixin, JupyterHandler, websocket.WebSocketHandler):
    """``chats/{id}/events?after_seq=N``: JSON frames of ``events.ChatEvent``."""

    auth_resource = AUTH_RESOURCE
    _queue: asyncio.Queue[Any] | None = None
    _pump: asyncio.Task[None] | None = None

    @ws_authenticated
    async def get(self, chat_id: str) -> None:  # type: ignore[override]
        if not self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE):
            raise web.HTTPError(403)
        await self.start_service()
        try:
            await self.service.store.get_chat(self.caller(), chat_id)
        except ApiError as exc:
            raise web.HTTPError(exc.status, exc.message) from None
        raw = self.get_query_argument("after_seq", None)
        if raw is not None and not raw.isdigit():
            raise web.HTTPError(400, "after_seq must be a non-negative integer")
        self.chat_id = chat_id
        self.after_seq = int(raw) if raw else None
        await super().get(chat_id)  # type: ignore[misc]

    def open(self, chat_id: str) -> None:  # type: ignore[override]
        missed, self._queue = self.service.rt.bus.subscribe(chat_id, self.after_seq)
        for event in missed:
            self.write_message(event.model_dump_json())
        self._pump = asyncio.create_task(self._forward())

    async def _forward(self) -> None:
        assert self._queue is not None
        try:
            while True:
                event = await self._queue.get()
                await self.write_message(event.model_dump_json())
        except (websocket.WebSocketClosedError, asyncio.CancelledError):
            pass
        finally:
            self._unsubscribe()

    def _unsubscribe(self) -> None:
        if self._queue is not None:
            self.service.rt.bus.unsubscribe(self.chat_id, self._queue)
            self._queue = None

    def on_close(self) -> None:
        self._unsubscribe()
        if self._pump is not None:
            self._pump.cancel()

    def on_message(self, message: str | bytes) -> None:
        pass  # the socket is one-way; pings are handled by tornado

    def check_origin(self, origin: str) -> bool:
        return bool(super().check_origin(origin))


ANY_ID = r"([^/]+)"


def routes() -> list[tuple[str, type[web.RequestHandler]]]:
    from .changes import routes as change_routes  # it imports this module

    return [
        (rf"{PREFIX}/models", ModelsHandler),
        (rf"{PREFIX}/providers", ProvidersHandler),
        (rf"{PREFIX}/chats", ChatsHandler),
        (rf"{PREFIX}/chats/{ANY_ID}", ChatHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/messages", MessagesHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/queue", QueueHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/queue/(\d+)", QueueItemHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/queue/(\d+)/send-now", SendNowHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/stop", StopHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/retry", RetryHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/fork", ForkHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/plan", PlanHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/answers", AnswersHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/approvals", ApprovalsHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/tool-results", ToolResultsHandler),
        *change_routes(),
        (rf"{PREFIX}/chats/{ANY_ID}/events", EventsSocket),
        (rf"{PREFIX}/attachments", AttachmentsHandler),
        (rf"{PREFIX}/attachments/{ANY_ID}", AttachmentHandler),
        (rf"{PREFIX}/workspaces", WorkspacesHandler),
        (rf"{PREFIX}/workspaces/{ANY_ID}", WorkspaceHandler),
        (rf"{PREFIX}/workspaces/{ANY_ID}/start", WorkspaceStartHandler),
        (rf"{PREFIX}/templates", TemplatesHandler),
        (rf"{PREFIX}/templates/{ANY_ID}", TemplateHandler),
        (rf"{PREFIX}/openapi.json", OpenAPIHandler),
    ]
