"""The OpenAPI 3 document, generated from the pydantic models that validate requests."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas
from .change_schemas import OPERATIONS as CHANGE_OPERATIONS

REF = "#/components/schemas/{model}"

# (method, path, summary, request body, response model, success status, is_list)
OPERATIONS: list[
    tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, int, bool]
] = [
    ("get", "/models", "Enabled models", None, schemas.ModelInfo, 200, True),
    ("get", "/openapi.json", "This document", None, None, 200, False),
    (
        "get",
        "/providers",
        "Configured providers and a set-up hint",
        None,
        schemas.Providers,
        200,
        False,
    ),
    ("get", "/chats", "The caller's chats, newest first", None, schemas.ChatSummary, 200, True),
    ("post", "/chats", "Start a chat", schemas.CreateChat, schemas.ChatDetail, 201, False),
    ("get", "/chats/{chat_id}", "A chat with its children", None, schemas.ChatDetail, 200, False),
    (
        "patch",
        "/chats/{chat_id}",
        "Rename, change model, plan mode, tool policy or kernel consent",
        schemas.UpdateChat,
        schemas.ChatDetail,
        200,
        False,
    ),
    ("delete", "/chats/{chat_id}", "Archive a chat", None, None, 204, False),
    ("get", "/chats/{chat_id}/messages", "Messages in order", None, schemas.MessageOut, 200, True),
    (
        "post",
        "/chats/{chat_id}/messages",
        "Send a message (queued while a turn runs)",
        schemas.SendMessage,
        None,
        201,
        False,
    ),
    ("get", "/chats/{chat_id}/queue", "Queued messages", None, schemas.QueuedOut, 200, True),
    (
        "patch",
        "/chats/{chat_id}/queue/{queue_id}",
        "Edit a queued message",
        schemas.EditQueued,
        schemas.QueuedOut,
        200,
        False,
    ),
    (
        "delete",
        "/chats/{chat_id}/queue/{queue_id}",
        "Delete a queued message",
        None,
        None,
        204,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/queue/{queue_id}/send-now",
        "Interrupt the turn and send this message next",
        None,
        schemas.ChatDetail,
        200,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/stop",
        "Stop the running turn",
        None,
        schemas.ChatDetail,
        202,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/retry",
        "Retry after an error",
        None,
        schemas.ChatDetail,
        202,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/fork",
        "Copy history up to a message into a new chat",
        schemas.Fork,
        schemas.ChatDetail,
        201,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/plan",
        "Approve a proposed plan or ask for changes",
        schemas.PlanDecision,
        None,
        201,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/answers",
        "Answer the agent's questions",
        schemas.Answers,
        None,
        201,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/approvals",
        "Allow or reject a tool call that waits",
        schemas.ApprovalDecision,
        schemas.ChatDetail,
        200,
        False,
    ),
    (
        "post",
        "/chats/{chat_id}/tool-results",
        "Deliver the result of a tool call the client ran (the user's kernel)",
        schemas.ClientToolResult,
        schemas.ChatDetail,
        200,
        False,
    ),
    (
        "post",
        "/attachments",
        "Upload an image (multipart field 'file')",
        None,
        schemas.AttachmentOut,
        201,
        False,
    ),
    ("get", "/attachments/{attachment_id}", "Download an attachment", None, None, 200, False),
    ("get", "/workspaces", "The caller's workspaces", None, schemas.WorkspaceOut, 200, True),
    (
        "post",
        "/workspaces",
        "Create a scratch workspace",
        schemas.CreateWorkspace,
        schemas.WorkspaceOut,
        201,
        False,
    ),
    ("get", "/workspaces/{workspace_id}", "A workspace", None, schemas.WorkspaceOut, 200, False),
    ("delete", "/workspaces/{workspace_id}", "Delete a workspace", None, None, 204, False),
    (
        "post",
        "/workspaces/{workspace_id}/start",
        "Start a stopped workspace",
        None,
        schemas.WorkspaceOut,
        200,
        False,
    ),
    ("get", "/templates", "Templates the caller may use", None, schemas.TemplateOut, 200, True),
    ("get", "/templates/{name}", "A template", None, schemas.TemplateOut, 200, False),
    *CHANGE_OPERATIONS,
]


@cache
def _components() -> dict[str, Any]:
    models = {m for op in OPERATIONS for m in (op[3], op[4]) if m is not None}
    models.add(schemas.ErrorBody)
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=str)], ref_template=REF
    )
    return defs.get("$defs", {})


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def openapi_document(server_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": _ref(schemas.ErrorBody)}},
    }
    for method, path, summary, body, response, status, is_list in OPERATIONS:
        op: dict[str, Any] = {
            "summary": summary,
            "parameters": [
                {
                    "name": p.strip("{}"),
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
                for p in path.split("/")
                if p.startswith("{")
            ],
        }
        if body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(body)}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if response is not None:
            schema: dict[str, Any] = _ref(response)
            if is_list:
                schema = {"type": "array", "items": schema}
            ok["content"] = {"application/json": {"schema": schema}}
        op["responses"] = {str(status): ok, "400": error, "404": error, "409": error}
        paths.setdefault(path, {})[method] = op
    paths["/chats/{chat_id}/events"] = {
        "get": {
            "summary": "Live events (WebSocket; query after_seq): JSON {seq, chat_id, type}",
            "parameters": [
                {"name": "chat_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"101": {"description": "Switching Protocols"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "coder-agents-jupyter", "version": "1"},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": _components()},
    }
