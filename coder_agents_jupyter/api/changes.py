"""Change review over REST: ``GET chats/{id}/diff`` and ``POST chats/{id}/revert``."""

from __future__ import annotations

from tornado import web

from ..agent.changes import ChangeService
from ..db.changes import ChangeConflict
from .change_schemas import RevertRequest
from .handlers import ANY_ID, PREFIX, BaseHandler, api_verb


class _ChangesHandler(BaseHandler):
    @property
    def changes(self) -> ChangeService:
        app = self.extensionapp
        service = getattr(app, "changes", None)
        if service is None:  # set by the extension at start; made here if it was not
            service = app.changes = ChangeService(self.service.rt)
        return service  # type: ignore[no-any-return]


class DiffHandler(_ChangesHandler):
    @api_verb
    async def get(self, chat_id: str) -> None:
        files = await self.changes.diff(self.caller(), chat_id)
        self.reply({"files": [f.json() for f in files]})


class RevertHandler(_ChangesHandler):
    @api_verb
    async def post(self, chat_id: str) -> None:
        body = self.body(RevertRequest)
        try:
            reverted = await self.changes.revert(
                self.caller(), chat_id, body.paths, body.workspace_id
            )
        except ChangeConflict as exc:
            self.reply(
                {"error": {"code": exc.code, "message": exc.message, "paths": exc.paths}},
                exc.status,
            )
            return
        self.reply({"reverted": reverted})


def routes() -> list[tuple[str, type[web.RequestHandler]]]:
    return [
        (rf"{PREFIX}/chats/{ANY_ID}/diff", DiffHandler),
        (rf"{PREFIX}/chats/{ANY_ID}/revert", RevertHandler),
    ]
