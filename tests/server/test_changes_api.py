"""Change review through the REST API: a scripted chat writes, edits, deletes and recreates
files; its diff shows each net change, and a revert restores them unless the user changed a
file since."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call


@pytest.fixture(params=["anthropic"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


APP = "def answer():\n    return 41\n"
DRAFT = "# Original draft\n\nKeep me.\n"


def by_path(diff: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in diff["files"]}


async def test_diff_and_revert_over_a_chat(api, fake_llm, jp_root_dir: Path) -> None:
    await diff_and_revert(api, fake_llm, jp_root_dir)


@pytest.mark.postgres
async def test_diff_and_revert_on_postgres(api, fake_llm, jp_root_dir: Path) -> None:
    await diff_and_revert(api, fake_llm, jp_root_dir)


async def diff_and_revert(api, fake_llm, jp_root_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # Given a project, and a chat that creates new.py, edits app.py, overwrites draft.md,
    # deletes draft.md with a command and writes it again
    (jp_root_dir / "app.py").write_text(APP)
    (jp_root_dir / "draft.md").write_text(DRAFT)
    fake_llm.script(
        "review",
        [
            reply(
                tool_call("write_file", {"path": "new.py", "content": "print('new')\n"}),
                tool_call(
                    "edit_files",
                    {"edits": [{"path": "app.py", "old_text": "41", "new_text": "42"}]},
                ),
                tool_call("write_file", {"path": "draft.md", "content": "# Draft v1\n"}),
            ),
            reply(tool_call("execute", {"command": "rm draft.md && echo removed"})),
            reply(tool_call("write_file", {"path": "draft.md", "content": "# Draft v2\n"})),
            reply(text("Done.")),
        ],
    )
    chat = await api.chat("Rework the project #review")
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting", done["error"]

    # When its diff is asked for
    files = by_path(await api.ok("GET", f"chats/{chat['id']}/diff"))

    # Then every file shows its net change since before the chat
    assert {p: f["status"] for p, f in files.items()} == {
        "app.py": "modified",
        "draft.md": "modified",
        "new.py": "added",
    }
    assert files["new.py"]["diff"] == (
        "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+print('new')\n"
    )
    assert "-    return 41\n+    return 42\n" in files["app.py"]["diff"]
    assert files["app.py"]["diff"].startswith("--- a/app.py\n+++ b/app.py\n")
    # the draft goes from its original to the last version, across the deletion
    draft = files["draft.md"]["diff"]
    assert "-# Original draft\n" in draft and "+# Draft v2\n" in draft and "v1" not in draft
    assert not any(f["binary"] for f in files.values())
    assert {f["workspace_id"] for f in files.values()} == {done["workspace_id"]}

    # When the user changes app.py, then asks to revert all three
    (jp_root_dir / "app.py").write_text("def answer():\n    return 'mine'\n")
    status, body = await api.call(
        "POST", f"chats/{chat['id']}/revert", {"paths": ["new.py", "app.py", "draft.md"]}
    )
    # Then the revert is refused naming app.py, and nothing was written
    assert status == 409, body
    assert body["error"]["code"] == "conflict" and body["error"]["paths"] == ["app.py"]
    assert "app.py" in body["error"]["message"]
    assert (jp_root_dir / "new.py").read_text() == "print('new')\n"
    assert (jp_root_dir / "draft.md").read_text() == "# Draft v2\n"
    assert "mine" in (jp_root_dir / "app.py").read_text()

    # When the other two are reverted
    reverted = await api.ok("POST", f"chats/{chat['id']}/revert", {"paths": ["new.py", "draft.md"]})
    # Then they are as before the chat, and only app.py is left in the diff
    assert reverted == {"reverted": ["new.py", "draft.md"]}
    assert not (jp_root_dir / "new.py").exists()
    assert (jp_root_dir / "draft.md").read_text() == DRAFT
    assert list(by_path(await api.ok("GET", f"chats/{chat['id']}/diff"))) == ["app.py"]

    # And once the user puts app.py back as the agent left it, it reverts too
    (jp_root_dir / "app.py").write_text(APP.replace("41", "42"))
    await api.ok("POST", f"chats/{chat['id']}/revert", {"paths": ["app.py"]})
    assert (jp_root_dir / "app.py").read_text() == APP
    assert (await api.ok("GET", f"chats/{chat['id']}/diff")) == {"files": []}


async def test_revert_errors(api, fake_llm, jp_root_dir: Path) -> None:
    fake_llm.script(
        "one",
        [reply(tool_call("write_file", {"path": "one.txt", "content": "1\n"})), reply(text("ok"))],
    )
    chat = await api.chat("Write one file #one")
    await api.wait(chat["id"])
    revert = f"chats/{chat['id']}/revert"
    status, body = await api.call("POST", revert, {"paths": ["never-written.txt"]})
    assert status == 404 and "never-written.txt" in body["error"]["message"]
    status, body = await api.call("POST", revert, {"paths": ["../../etc/passwd"]})
    assert status == 404
    status, body = await api.call("POST", revert, {"paths": []})
    assert status == 400
    status, body = await api.call("POST", revert, {"files": ["one.txt"]})
    assert status == 400
    status, body = await api.call("GET", "chats/no-such-chat/diff")
    assert status == 404
    status, body = await api.call("POST", "chats/no-such-chat/revert", {"paths": ["one.txt"]})
    assert status == 404
    assert (jp_root_dir / "one.txt").read_text() == "1\n"


def child_ids(request: dict[str, Any]) -> list[str]:
    """The chat ids that spawn_agent returned earlier in this conversation."""
    ids = []
    for result in json.dumps(request["messages"]).split('\\"chat_id\\": \\"')[1:]:
        ids.append(result.split('\\"', 1)[0])
    return list(dict.fromkeys(ids))


async def test_a_chats_diff_includes_its_sub_agents(api, fake_llm, jp_root_dir: Path) -> None:
    # Given a root chat that writes a file and a sub-agent that writes another
    fake_llm.script(
        "helper",
        [
            reply(tool_call("write_file", {"path": "child.txt", "content": "from the child\n"})),
            reply(text("Wrote child.txt.")),
        ],
    )
    fake_llm.script(
        "lead",
        [
            reply(
                tool_call("write_file", {"path": "root.txt", "content": "from the root\n"}),
                tool_call("spawn_agent", {"type": "general", "prompt": "Help #helper"}),
            ),
            lambda r: reply(tool_call("wait_agent", {"chat_ids": child_ids(r)})),
            reply(text("All done.")),
        ],
    )
    root = await api.chat("Split the work #lead")
    done = await api.wait(root["id"])
    assert done["status"] == "waiting", done["error"]
    [child] = done["children"]

    # Then the root's diff has both files, the child's only its own
    assert sorted(by_path(await api.ok("GET", f"chats/{root['id']}/diff"))) == [
        "child.txt",
        "root.txt",
    ]
    assert list(by_path(await api.ok("GET", f"chats/{child['id']}/diff"))) == ["child.txt"]

    # And a revert from the root covers the child's file
    await api.ok("POST", f"chats/{root['id']}/revert", {"paths": ["child.txt", "root.txt"]})
    assert not (jp_root_dir / "child.txt").exists() and not (jp_root_dir / "root.txt").exists()
    assert (await api.ok("GET", f"chats/{root['id']}/diff")) == {"files": []}


class TestOwnership:
    @pytest.fixture
    def jp_server_config(self, jp_server_config):  # type: ignore[no-untyped-def]
        jp_server_config["ServerApp"]["identity_provider_class"] = (
            "coder_agents_jupyter.testing.identity.TokenUsers"
        )
        jp_server_config["CoderAgents"]["admin_users"] = ["auditor"]
        return jp_server_config

    async def test_only_the_owner_reverts_an_admin_may_read(
        self, api_as, fake_llm, jp_root_dir: Path
    ) -> None:
        alice, bob, auditor = (api_as(n) for n in ("alice", "bob", "auditor"))
        fake_llm.script(
            "alice",
            [
                reply(tool_call("write_file", {"path": "a.txt", "content": "a\n"})),
                reply(text("ok")),
            ],
        )
        chat = await alice.chat("Write #alice")
        await alice.wait(chat["id"])
        diff, revert = f"chats/{chat['id']}/diff", f"chats/{chat['id']}/revert"
        assert (await bob.call("GET", diff))[0] == 404
        assert (await bob.call("POST", revert, {"paths": ["a.txt"]}))[0] == 404
        assert [f["path"] for f in (await auditor.ok("GET", diff))["files"]] == ["a.txt"]
        assert (await auditor.call("POST", revert, {"paths": ["a.txt"]}))[0] == 404
        assert (jp_root_dir / "a.txt").exists()
        assert (await alice.ok("POST", revert, {"paths": ["a.txt"]})) == {"reverted": ["a.txt"]}
        assert not (jp_root_dir / "a.txt").exists()


async def test_a_notebooks_diff_shows_its_cells(api, fake_llm, jp_root_dir: Path) -> None:
    # Given a notebook with two cells, and a chat that rewrites the code cell with edit_notebook
    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": ["# Sums"]},
            {
                "cell_type": "code",
                "id": "sum",
                "metadata": {},
                "execution_count": 1,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["3\n"]}],
                "source": ["total = 1 + 2\n", "print(total)"],
            },
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (jp_root_dir / "sums.ipynb").write_text(json.dumps(nb, indent=1) + "\n")
    fake_llm.script(
        "cells",
        [
            reply(
                tool_call(
                    "edit_notebook",
                    {
                        "path": "sums.ipynb",
                        "edits": [
                            {
                                "op": "replace",
                                "cell_id": "sum",
                                "source": "total = 2 + 2\nprint(total)",
                            }
                        ],
                    },
                )
            ),
            reply(text("Done.")),
        ],
    )
    chat = await api.chat("Fix the sum #cells")
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting", done["error"]

    # When its diff is asked for
    [change] = (await api.ok("GET", f"chats/{chat['id']}/diff"))["files"]

    # Then it shows the cell's code changing (and its cleared output), not the JSON
    assert change["path"] == "sums.ipynb" and change["status"] == "modified"
    diff = change["diff"]
    assert diff.startswith("--- a/sums.ipynb\n+++ b/sums.ipynb\n@@ ")
    assert " # %% [code] cell 1 (id sum)\n-total = 1 + 2\n+total = 2 + 2\n print(total)\n" in diff
    assert "-# -> output: 1 line of stdout\n" in diff
    assert '"source": [' not in diff and '"cell_type"' not in diff
    assert (change["additions"], change["deletions"]) == (1, 2)
