"""The static HTML a saved notebook keeps of a chat (what nbviewer shows without a kernel)."""

from __future__ import annotations

from typing import Any

from coder_agents_jupyter.client.snapshot import MAX_MESSAGES, snapshot_html

CHAT = {"id": "c1", "title": "Fix <b>it</b>", "status": "waiting", "model": "m", "usage": {}}


def message(seq: int, role: str, *blocks: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "role": role, "content": list(blocks), "is_summary": False}


def test_the_conversation_with_its_tools_and_diffs() -> None:
    call = {"type": "tool_call", "id": "t1", "name": "execute", "input": {"command": "pytest"}}
    edit = {
        "type": "tool_call",
        "id": "t2",
        "name": "edit_files",
        "input": {"edits": [{"path": "a.py"}]},
    }
    html = snapshot_html(
        {**CHAT, "usage": {"input_tokens": 10, "output_tokens": 5}},
        [
            message(1, "user", {"type": "text", "text": "Make the tests pass"}),
            message(2, "assistant", {"type": "text", "text": "Running **pytest**."}, call, edit),
            message(
                3,
                "tool",
                {
                    "type": "tool_result",
                    "tool_call_id": "t1",
                    "content": "1 passed",
                    "display": {"command": "pytest", "output": "1 passed", "exit_code": 0},
                },
                {
                    "type": "tool_result",
                    "tool_call_id": "t2",
                    "content": "ok",
                    "display": {
                        "files": [
                            {
                                "path": "a.py",
                                "diff": "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
                            }
                        ]
                    },
                },
            ),
        ],
    )
    assert 'class="coder-agents-snapshot"' in html
    assert "Make the tests pass" in html and "<strong>pytest</strong>" in html
    assert "$ pytest\n1 passed" in html and "[exit 0]" in html
    assert 'background: #dafbe1;">+x = 2' in html and 'background: #ffebe9;">-x = 1' in html
    assert "15 tokens" in html and "ready" in html


def test_what_people_wrote_is_never_markup() -> None:
    html = snapshot_html(
        CHAT,
        [
            message(1, "user", {"type": "text", "text": "<img src=x onerror=alert(1)>"}),
            message(
                2, "assistant", {"type": "text", "text": "Use `a < b` or <script>x()</script>"}
            ),
        ],
    )
    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<code>a &lt; b</code>" in html
    assert "Fix &lt;b&gt;it&lt;/b&gt;" in html


def test_errors_and_long_chats_are_bounded() -> None:
    failed = {**CHAT, "status": "error", "error": {"message": "anthropic: invalid key"}}
    many = [message(i, "user", {"type": "text", "text": f"prompt {i}"}) for i in range(1, 500)]
    html = snapshot_html(failed, many)
    assert "anthropic: invalid key" in html
    assert (
        html.count("prompt ") == MAX_MESSAGES and "prompt 499" in html and "prompt 1<" not in html
    )
