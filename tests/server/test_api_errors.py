"""Bad input gets a clear 4xx with the error shape of API.md, and changes nothing."""

from __future__ import annotations

import pytest

from coder_agents_jupyter.testing import reply, text

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64

pytestmark = pytest.mark.parametrize("protocol", ["anthropic"], indirect=True)


def error_of(status: int, body: dict, expected: int) -> str:
    assert status == expected, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["message"])


async def test_bad_inputs_are_4xx_and_leave_the_chat_unchanged(api, fake_llm) -> None:
    fake_llm.script("bad", [reply(text("ok"))])
    chat = await api.chat("hello #bad")
    await api.wait(chat["id"])
    before = await api.messages(chat["id"])

    status, body = await api.call("POST", f"chats/{chat['id']}/messages", raw=b"{not json")
    assert "not valid JSON" in error_of(status, body, 400)
    status, body = await api.call("POST", "chats", {"prompt": "x", "model": "gpt-99"})
    assert "gpt-99" in error_of(status, body, 400)
    status, body = await api.call("POST", "chats", {"prompt": "x", "colour": "red"})
    assert "colour" in error_of(status, body, 400)
    status, body = await api.call("POST", f"chats/{chat['id']}/messages", {"content": " "})
    assert "empty" in error_of(status, body, 400)
    status, body = await api.call("GET", "chats/00000000-0000-0000-0000-000000000000")
    error_of(status, body, 404)
    status, body = await api.call("POST", "chats/nope/messages", {"content": "hi"})
    error_of(status, body, 404)
    status, body = await api.call("GET", f"chats/{chat['id']}/messages", limit="many")
    error_of(status, body, 400)
    status, body = await api.call("POST", f"chats/{chat['id']}/fork", {"message_id": 999999})
    error_of(status, body, 404)
    status, body = await api.call("POST", f"chats/{chat['id']}/retry")
    error_of(status, body, 409)

    # Uploads: too large, not an image, labelled as something else
    boundary = "XyZ"

    def multipart(data: bytes, ctype: str) -> tuple[bytes, dict[str, str]]:
        raw = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="a.png"\r\nContent-Type: {ctype}\r\n\r\n'
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return raw, {"Content-Type": f"multipart/form-data; boundary={boundary}"}

    raw, headers = multipart(PNG + b"\0" * (10 * 1024 * 1024), "image/png")
    status, body = await api.call("POST", "attachments", raw=raw, headers=headers)
    error_of(status, body, 413)
    raw, headers = multipart(b"MZ this is an exe", "image/png")
    status, body = await api.call("POST", "attachments", raw=raw, headers=headers)
    error_of(status, body, 415)
    raw, headers = multipart(PNG, "image/jpeg")
    status, body = await api.call("POST", "attachments", raw=raw, headers=headers)
    assert "image/png" in error_of(status, body, 415)
    raw, headers = multipart(PNG, "image/png")
    status, body = await api.call("POST", "attachments", raw=raw, headers=headers)
    assert status == 201 and body["media_type"] == "image/png"

    # Archived chats take no more messages
    status, _ = await api.call("DELETE", f"chats/{chat['id']}")
    assert status == 204
    status, body = await api.call("POST", f"chats/{chat['id']}/messages", {"content": "more"})
    assert "archived" in error_of(status, body, 409)

    assert await api.messages(chat["id"]) == before
    assert (await api.ok("GET", f"chats/{chat['id']}"))["status"] == "waiting"
    assert await api.ok("GET", f"chats/{chat['id']}/queue") == []


async def test_models_and_openapi(api) -> None:
    models = await api.ok("GET", "models")
    assert [m["id"] for m in models] == ["fake-model", "tiny-model", "search-model"]
    assert models[0]["default"] is True and models[1]["default"] is False
    doc = await api.ok("GET", "openapi.json")
    assert doc["openapi"].startswith("3.")
    assert "CreateChat" in doc["components"]["schemas"]
    assert set(doc["paths"]["/chats/{chat_id}"]) == {"get", "patch", "delete"}


async def test_requires_authentication(api) -> None:
    status, body = await api.call("GET", "chats", headers={"Authorization": ""})
    assert status == 403
