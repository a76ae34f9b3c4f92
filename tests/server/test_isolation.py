"""Users see only their own chats, messages, events and attachments; admins may audit."""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError

from coder_agents_jupyter.testing import reply, text

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def jp_server_config(jp_server_config):  # type: ignore[no-untyped-def]
    jp_server_config["ServerApp"]["identity_provider_class"] = (
        "coder_agents_jupyter.testing.identity.TokenUsers"
    )
    jp_server_config["CoderAgents"]["admin_users"] = ["auditor"]
    return jp_server_config


@pytest.mark.parametrize("protocol", ["openai-chat"], indirect=True)
async def test_user_b_cannot_reach_user_a(api_as, jp_ws_fetch, fake_llm) -> None:
    alice, bob, auditor = (api_as(n) for n in ("alice", "bob", "auditor"))
    fake_llm.script("mine", [reply(text("hi alice"))])
    chat = await alice.chat("private #mine")
    await alice.wait(chat["id"])
    status, body = await alice.call(
        "POST", "attachments", raw=PNG, headers={"Content-Type": "image/png"}
    )
    assert status == 201
    attachment = body["id"]

    for method, path, payload in [
        ("GET", f"chats/{chat['id']}", None),
        ("GET", f"chats/{chat['id']}/messages", None),
        ("POST", f"chats/{chat['id']}/messages", {"content": "hijack"}),
        ("GET", f"chats/{chat['id']}/queue", None),
        ("POST", f"chats/{chat['id']}/stop", None),
        ("POST", f"chats/{chat['id']}/fork", {"message_id": 1}),
        ("PATCH", f"chats/{chat['id']}", {"title": "mine now"}),
        ("DELETE", f"chats/{chat['id']}", None),
        ("GET", f"attachments/{attachment}", None),
    ]:
        status, body = await bob.call(method, path, payload)
        assert status == 404, (method, path, status, body)
    assert await bob.ok("GET", "chats") == []
    with pytest.raises(HTTPClientError) as exc:
        await jp_ws_fetch(
            "coder-agents",
            "api",
            "v1",
            "chats",
            chat["id"],
            "events",
            headers={"Authorization": "token user-bob"},
        )
    assert exc.value.code == 404

    # The owner's socket works; an admin may read but not act
    ws = await jp_ws_fetch(
        "coder-agents",
        "api",
        "v1",
        "chats",
        chat["id"],
        "events",
        headers={"Authorization": "token user-alice"},
    )
    ws.close()
    assert (await auditor.ok("GET", f"chats/{chat['id']}"))["owner"] == "alice"
    status, _ = await auditor.call("POST", f"chats/{chat['id']}/messages", {"content": "x"})
    assert status == 404
    assert len(await alice.messages(chat["id"])) == 2
