"""The live chat widget: the Agents panel's own chat view, fed through the kernel.

The frontend half lives in the JupyterLab extension (``ChatWidgetModel`` / ``ChatWidgetView``,
labextension/src/chatWidget.tsx), so the widget renders with the panel's components in
JupyterLab and Notebook 7 alike. It never talks to the server itself: everything goes through
this kernel, which is the one place guaranteed to reach the server (it may be a remote one).

- Requests: the view sends ``{"type": "request", "id", "method", "endpoint", "body"}`` (an image
  upload carries its bytes as a buffer); the kernel calls the REST API with its own client and
  answers ``{"type": "reply", "id", "ok", "data" | "error"}``.
- Live events: one thread per followed chat reads the chat's WebSocket (reconnecting with
  ``after_seq``) and forwards frames in batches as ``{"type": "events", "chat_id", "events"}``.
  A thread, because the kernel's own loop is blocked while a cell waits for the chat.
- The saved notebook keeps a static HTML snapshot next to the widget (``snapshot.py``), updated
  when a turn ends, so nbviewer and GitHub show the conversation without a kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets
import traitlets

from .api import AgentsError, Api, _read
from .snapshot import snapshot_html

if TYPE_CHECKING:
    from .chat import Chat

log = logging.getLogger(__name__)

MODULE = "coder-agents-jupyter"
MODULE_VERSION = "^0.1.0"
PAGE = 200
BATCH_SECONDS = 0.05
ALLOWED = ("chats", "attachments", "models", "workspaces")
ACTIVE = ("pending", "running")


class _Follow(threading.Thread):
    """Forwards one chat's live events to the widget until stopped."""

    def __init__(self, widget: ChatWidget, chat_id: str) -> None:
        super().__init__(daemon=True, name=f"coder-agents-events-{chat_id[:8]}")
        self.widget = widget
        self.chat_id = chat_id
        self.after_seq = 0
        self._stop_event = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # a widget must never take the kernel down
            log.exception("following chat %s stopped", self.chat_id)

    async def _main(self) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        api = self.widget.api
        url = api.base.replace("http", "ws", 1) + f"chats/{self.chat_id}/events"
        delay = 0.5
        while not self._stop_event.is_set():
            request = HTTPRequest(
                f"{url}?after_seq={self.after_seq}",
                headers={"Authorization": f"token {api.token}"} if api.token else {},
            )
            try:
                socket = await websocket_connect(request)
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            delay = 0.5
            try:
                await self._pump(socket)
            finally:
                socket.close()

    async def _pump(self, socket: Any) -> None:
        batch: list[dict[str, Any]] = []
        pending: asyncio.Future[Any] | None = None
        while not self._stop_event.is_set():
            if pending is None:
                pending = asyncio.ensure_future(socket.read_message())
            done, _ = await asyncio.wait({pending}, timeout=BATCH_SECONDS)
            if not done:
                self._flush(batch)
                continue
            raw, pending = pending.result(), None
            if raw is None:  # closed by the server (restart): reconnect from after_seq
                self._flush(batch)
                return
            frame = json.loads(raw)
            self.after_seq = max(self.after_seq, int(frame.get("seq", 0)))
            batch.append(frame)
            if frame.get("type") == "status" and frame.get("status") not in ACTIVE:
                self._flush(batch)
                await asyncio.to_thread(self.widget._turn_ended, self.chat_id)
        if pending is not None:
            pending.cancel()

    def _flush(self, batch: list[dict[str, Any]]) -> None:
        if batch:
            self.widget.send({"type": "events", "chat_id": self.chat_id, "events": list(batch)})
            batch.clear()


class ChatWidget(ipywidgets.DOMWidget):  # type: ignore[misc]
    """A live view of one chat (and its sub-agents) in a notebook."""

    _model_name = traitlets.Unicode("ChatWidgetModel").tag(sync=True)
    _view_name = traitlets.Unicode("ChatWidgetView").tag(sync=True)
    _model_module = traitlets.Unicode(MODULE).tag(sync=True)
    _view_module = traitlets.Unicode(MODULE).tag(sync=True)
    _model_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)
    _view_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)

    chat = traitlets.Dict().tag(sync=True)
    """The chat as ``GET chats/{id}`` answers it (kept current at the end of each turn)."""
    messages = traitlets.List().tag(sync=True)
    """Its last messages (a page), so a view shows them before any request is answered."""
    queue = traitlets.List().tag(sync=True)
    models = traitlets.List().tag(sync=True)
    workspaces = traitlets.List().tag(sync=True)

    def __init__(self, chat: Chat, **kwargs: Any) -> None:
        self.api: Api = chat._agents.api
        self._chat = chat
        chat_id = chat.id
        super().__init__(**kwargs, **self._load(chat_id))
        self.chat_id = chat_id
        self._follows: dict[str, _Follow] = {}
        self._handles: list[Any] = []
        self.on_msg(self._on_msg)
        self.follow(chat_id)

    def _load(self, chat_id: str) -> dict[str, Any]:
        api = self.api
        return {
            "chat": api.request("GET", f"chats/{chat_id}"),
            "messages": api.request(
                "GET", f"chats/{chat_id}/messages", params={"before": 2**31 - 1, "limit": PAGE}
            ),
            "queue": api.request("GET", f"chats/{chat_id}/queue"),
            "models": api.request("GET", "models"),
            "workspaces": api.request("GET", "workspaces"),
        }

    # ----- display: the widget plus its static snapshot -----

    def snapshot(self) -> str:
        return snapshot_html(self.chat, self.messages)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = self.snapshot()
        bundle["text/markdown"] = self._chat._repr_markdown_()  # for text-only frontends
        return bundle

    def show(self) -> Any:
        """Display the widget and keep its display up to date (the saved snapshot too)."""
        from IPython.display import display

        handle = display(self._repr_mimebundle_(), raw=True, display_id=True)
        if handle is not None:
            self._handles.append(handle)
        return handle

    def _turn_ended(self, chat_id: str) -> None:
        """Refresh what a saved notebook keeps: the synced state and the snapshot."""
        if chat_id != self.chat_id:
            return
        try:
            fresh = self._load(chat_id)
        except AgentsError:
            return
        self.chat, self.messages, self.queue = fresh["chat"], fresh["messages"], fresh["queue"]
        with contextlib.suppress(AgentsError):
            self._chat.refresh()
        for handle in self._handles:
            with contextlib.suppress(Exception):
                handle.update(self._repr_mimebundle_(), raw=True)

    # ----- live events -----

    def follow(self, chat_id: str) -> None:
        running = self._follows.get(chat_id)
        if running is None or not running.is_alive():
            self._follows[chat_id] = follower = _Follow(self, chat_id)
            follower.start()

    def close(self) -> None:
        for follower in self._follows.values():
            follower.stop()
        self._follows.clear()
        super().close()

    # ----- requests from the view -----

    def _on_msg(self, _: Any, content: dict[str, Any], buffers: list[bytes]) -> None:
        kind = content.get("type")
        if kind == "follow" and isinstance(content.get("chat_id"), str):
            self.follow(content["chat_id"])
        elif kind == "request":
            self.send(self._answer(content, buffers))

    def _answer(self, content: dict[str, Any], buffers: list[bytes]) -> dict[str, Any]:
        reply: dict[str, Any] = {"type": "reply", "id": content.get("id")}
        method = str(content.get("method") or "GET").upper()
        endpoint = str(content.get("endpoint") or "").lstrip("/")
        if (
            method not in ("GET", "POST", "PATCH", "DELETE")
            or endpoint.split("/")[0].split("?")[0] not in ALLOWED
        ):
            error = {"status": 400, "code": "bad_request", "message": f"Not allowed: {endpoint}"}
            return {**reply, "ok": False, "error": error}
        try:
            if content.get("file") and buffers:
                data = self._upload(endpoint, content["file"], bytes(buffers[0]))
            else:
                path, _, query = endpoint.partition("?")
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                data = self.api.request(method, path, json=content.get("body"), params=params)
        except AgentsError as exc:
            error = {"status": exc.status, "code": exc.code, "message": exc.message}
            return {**reply, "ok": False, "error": error}
        return {**reply, "ok": True, "data": data}

    def _upload(self, endpoint: str, file: dict[str, Any], data: bytes) -> Any:
        name = str(file.get("name") or "image")
        media_type = str(file.get("type") or "application/octet-stream")
        response = self.api.client.post(
            self.api.base + endpoint, files={"file": (name, data, media_type)}
        )
        return _read(response)
