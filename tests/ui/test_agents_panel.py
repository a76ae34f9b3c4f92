"""The Agents panel in a real JupyterLab, driven in headless Chromium against the fake vendor.

Each test scripts the fake model by a ``#tag`` in the chat's first message, acts the way a user
does (typing, clicking), checks what the panel shows, and saves a screenshot.
"""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from lab import AGENTS_TAB, AgentsLab, dark_theme
from playwright.sync_api import Locator, Page, expect

from coder_agents_jupyter.testing import http_error, reply, stall, text, thinking, tool_call
from coder_agents_jupyter.testing.fake_provider import turn_tool_results

pytestmark = pytest.mark.browser

PANEL = "#coder-agents-panel"


def open_agents(page: Page) -> Locator:
    page.locator(AGENTS_TAB).click()
    panel = page.locator(PANEL)
    expect(panel.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    return panel


def start_chat(page: Page, prompt: str) -> Locator:
    """New chat -> type the prompt -> Enter; returns the chat view."""
    panel = open_agents(page)
    panel.get_by_role("button", name="New chat", exact=True).click()
    box = panel.get_by_role("textbox", name="Message", exact=True)
    box.fill(prompt)
    box.press("Enter")
    chat = panel.locator(".jp-CoderAgents-chat")
    expect(chat).to_be_visible(timeout=15_000)
    return chat


def shot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"))


def test_chat_streams_its_answer_with_tool_cards_and_a_diff(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "tour",
        [
            reply(
                thinking("The user wants the mean fixed; look at the file first."),
                text("Let me run the script first."),
                tool_call("execute", {"command": "python app.py"}),
            ),
            reply(
                tool_call(
                    "edit_files",
                    {
                        "edits": [
                            {
                                "path": "app.py",
                                "old_text": "return sum(values) / len(values)",
                                "new_text": "return sum(values) / len(values) if values else 0.0",
                            }
                        ]
                    },
                )
            ),
            reply(
                text(
                    "Fixed: `mean()` now returns **0.0** for an empty list, and the script "
                    "prints 2.8 as before."
                ),
                fault=stall(2.5, after=4),
            ),
        ],
    )
    chat = start_chat(page, "Make mean() safe for empty lists #tour")
    try:
        # The answer streams: its first words show while the turn still runs
        conversation = chat.locator(".jp-CoderAgents-conversation")
        expect(conversation).to_contain_text("Fixed:", timeout=30_000)
        expect(chat.locator(".jp-CoderAgents-chatHeader .jp-CoderAgents-status")).to_have_attribute(
            "data-status", "running"
        )
        expect(conversation).to_contain_text("2.8 as before.", timeout=30_000)
        expect(chat.locator(".jp-CoderAgents-chatHeader .jp-CoderAgents-status")).to_have_attribute(
            "data-status", "waiting", timeout=30_000
        )
        # The execute card: command, exit code and output in a terminal block
        run = chat.locator('.jp-CoderAgents-toolCard[data-tool="execute"]')
        expect(run).to_have_attribute("data-state", "done")
        run.locator("button[aria-expanded]").first.click()
        terminal = run.locator(".jp-CoderAgents-terminal")
        expect(terminal).to_contain_text("python app.py")
        expect(terminal).to_contain_text("2.8")
        expect(terminal.locator(".jp-CoderAgents-exitCode")).to_have_attribute("data-ok", "true")
        # The edit_files card: a real diff, unified then side by side
        edit = chat.locator('.jp-CoderAgents-toolCard[data-tool="edit_files"]')
        diff = edit.locator(".jp-CoderAgents-diff")
        expect(diff.locator('.jp-CoderAgents-diffLine[data-kind="add"]')).to_contain_text(
            "if values else 0.0"
        )
        expect(diff.locator('.jp-CoderAgents-diffLine[data-kind="del"]')).to_have_count(1)
        edit.scroll_into_view_if_needed()
        shot(page, screenshots, "chat-light")
        diff.get_by_role("button", name="Side by side", exact=True).click()
        expect(diff.locator(".jp-CoderAgents-mergeView .cm-editor")).to_have_count(2)
        # Thinking is its own collapsible block
        expect(conversation.get_by_role("button", name=re.compile("^Thought for"))).to_have_count(1)
    finally:
        shot(page, screenshots, "chat-tools")


def status_of(chat: Locator) -> Locator:
    return chat.locator(".jp-CoderAgents-chatHeader .jp-CoderAgents-status").first


def test_a_message_sent_while_running_is_queued_then_sent_now(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "queue",
        [
            reply(text("Starting the long job."), tool_call("execute", {"command": "sleep 30"})),
            reply(text("Read your note: I will check the README as well.")),
        ],
    )
    chat = start_chat(page, "Run the long job #queue")
    run = chat.locator('.jp-CoderAgents-toolCard[data-tool="execute"]')
    expect(run).to_have_attribute("data-state", "running", timeout=30_000)
    # While the agent works, a message goes to the queue above the composer
    box = chat.get_by_role("textbox", name="Message", exact=True)
    box.fill("Also check the README")
    box.press("Enter")
    item = chat.locator(".jp-CoderAgents-queueItem")
    expect(item).to_contain_text("Also check the README", timeout=10_000)
    expect(box).to_have_value("")
    shot(page, screenshots, "queue")
    # "Send now" interrupts the command and delivers the message
    item.get_by_role("button", name="Send now", exact=True).click()
    conversation = chat.locator(".jp-CoderAgents-conversation")
    expect(conversation.locator('.jp-CoderAgents-message[data-role="user"]').last).to_contain_text(
        "Also check the README", timeout=30_000
    )
    expect(conversation).to_contain_text("Read your note", timeout=30_000)
    expect(chat.locator(".jp-CoderAgents-queueItem")).to_have_count(0)
    expect(status_of(chat)).to_have_attribute("data-status", "waiting", timeout=30_000)


def test_stop_ends_a_running_turn(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "stop",
        [reply(text("This will take a while."), tool_call("execute", {"command": "sleep 60"}))],
    )
    chat = start_chat(page, "Run forever #stop")
    run = chat.locator('.jp-CoderAgents-toolCard[data-tool="execute"]')
    expect(run).to_have_attribute("data-state", "running", timeout=30_000)
    chat.get_by_role("button", name="Stop", exact=True).click()
    expect(status_of(chat)).to_have_attribute("data-status", "paused", timeout=30_000)
    expect(chat.get_by_text("Stopped. Send a message to continue.")).to_be_visible()
    expect(run).not_to_have_attribute("data-state", "running")
    expect(chat.get_by_role("button", name="Stop", exact=True)).to_have_count(0)
    shot(page, screenshots, "stopped")


PLAN_PATH = re.compile(r"\.coder-agents/plans/PLAN-[0-9a-f-]+\.md")


def plan_file(request: dict[str, Any]) -> str:
    found = PLAN_PATH.search(json.dumps(request))
    assert found, "the plan file path is in the system prompt"
    return found.group(0)


def test_a_plan_is_approved_from_the_panel(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    plan = "# Plan\n\n1. Guard `mean()` against empty input.\n2. Add a test.\n"
    agents_lab.fake.script(
        "plan",
        [
            lambda r: reply(tool_call("write_file", {"path": plan_file(r), "content": plan})),
            lambda r: reply(
                text("Here is my plan."), tool_call("propose_plan", {"path": plan_file(r)})
            ),
            reply(text("Implementing the approved plan now.")),
        ],
    )
    panel = open_agents(page)
    panel.get_by_role("button", name="New chat", exact=True).click()
    panel.get_by_role("button", name="Plan", exact=True).click()
    expect(panel.get_by_role("button", name="Plan", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    box = panel.get_by_role("textbox", name="Message", exact=True)
    box.fill("Make mean() robust #plan")
    box.press("Enter")
    card = panel.locator(".jp-CoderAgents-planCard")
    expect(card).to_contain_text("Guard mean() against empty input.", timeout=30_000)
    expect(card.get_by_role("heading", name="Plan", exact=True)).to_be_visible()
    shot(page, screenshots, "plan-light")
    card.get_by_role("button", name="Approve", exact=True).click()
    chat = panel.locator(".jp-CoderAgents-chat")
    expect(chat.locator(".jp-CoderAgents-conversation")).to_contain_text(
        "Implementing the approved plan now.", timeout=30_000
    )
    expect(card).to_have_count(0)
    chat_id = chat.get_attribute("data-chat-id")
    assert agents_lab.get_json(f"chats/{chat_id}")["plan_mode"] is False


def test_a_question_is_answered_with_an_option(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    question = {
        "header": "Empty input",
        "question": "What should mean([]) return?",
        "options": [
            {"label": "0.0", "description": "Quietly return zero"},
            {"label": "Raise", "description": "Raise a ValueError"},
        ],
    }
    agents_lab.fake.script(
        "ask",
        [
            reply(tool_call("ask_user_question", {"questions": [question]})),
            reply(text("Understood: mean([]) will raise a ValueError.")),
        ],
    )
    panel = open_agents(page)
    panel.get_by_role("button", name="New chat", exact=True).click()
    panel.get_by_role("button", name="Plan", exact=True).click()
    box = panel.get_by_role("textbox", name="Message", exact=True)
    box.fill("Decide what mean([]) does #ask")
    box.press("Enter")
    card = panel.locator(".jp-CoderAgents-questionCard")
    expect(card).to_contain_text("What should mean([]) return?", timeout=30_000)
    card.get_by_role("button", name=re.compile("^Raise")).click()
    shot(page, screenshots, "question")
    card.get_by_role("button", name="Send answers", exact=True).click()
    chat = panel.locator(".jp-CoderAgents-chat")
    expect(chat.locator(".jp-CoderAgents-conversation")).to_contain_text(
        "will raise a ValueError", timeout=30_000
    )
    (request,) = agents_lab.fake.requests_for("ask")[1:]
    assert "Raise" in json.dumps(request.body["messages"][-1])


def test_a_command_waits_for_approval_when_the_chat_asks_first(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "approve",
        [
            reply(text("Ready when you are.")),
            reply(tool_call("execute", {"command": "echo approved-run"})),
            reply(text("It printed approved-run.")),
        ],
    )
    chat = start_chat(page, "Get ready #approve")
    expect(status_of(chat)).to_have_attribute("data-status", "waiting", timeout=30_000)
    chat.get_by_role("combobox", name="Ask before", exact=True).select_option("commands")
    chat_id = chat.get_attribute("data-chat-id")
    expect(chat.get_by_role("combobox", name="Ask before", exact=True)).to_have_value("commands")
    assert agents_lab.get_json(f"chats/{chat_id}")["tool_policy"]["tools"]["execute"] == "ask"
    box = chat.get_by_role("textbox", name="Message", exact=True)
    box.fill("Run it")
    box.press("Enter")
    card = chat.locator(".jp-CoderAgents-approvalCard")
    expect(card).to_contain_text("echo approved-run", timeout=30_000)
    expect(status_of(chat)).to_have_attribute("data-status", "requires_action")
    run = chat.locator('.jp-CoderAgents-toolCard[data-tool="execute"]')
    expect(run).to_have_attribute("data-state", "approval")
    shot(page, screenshots, "approval")
    card.get_by_role("button", name="Allow once", exact=True).click()
    expect(chat.locator(".jp-CoderAgents-conversation")).to_contain_text(
        "It printed approved-run.", timeout=30_000
    )
    expect(run).to_have_attribute("data-state", "done")


def spawned_ids(request: dict[str, Any]) -> list[str]:
    return [
        json.loads(result)["chat_id"]
        for result in turn_tool_results(request)
        if result.startswith("{") and '"chat_id"' in result
    ]


def test_a_sub_agent_opens_from_the_tree(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "parent",
        [
            reply(
                text("I'll send an explorer."),
                tool_call(
                    "spawn_agent",
                    {
                        "type": "explore",
                        "prompt": "Find callers of mean() #child",
                        "title": "Find callers",
                    },
                ),
            ),
            lambda r: reply(tool_call("wait_agent", {"chat_ids": spawned_ids(r)})),
            reply(text("The explorer found one caller, in app.py.")),
        ],
    )
    agents_lab.fake.script("child", [reply(text("mean() is called once, in app.py's main block."))])
    chat = start_chat(page, "Who calls mean()? #parent")
    expect(chat.locator(".jp-CoderAgents-conversation")).to_contain_text(
        "found one caller", timeout=30_000
    )
    tree = chat.locator(".jp-CoderAgents-agentTree")
    link = tree.locator(".jp-CoderAgents-agentLink")
    expect(link).to_contain_text("Find callers")
    expect(link.locator(".jp-CoderAgents-status")).to_have_attribute("data-status", "waiting")
    shot(page, screenshots, "subagents-light")
    parent_id = chat.get_attribute("data-chat-id")
    link.click()
    child = page.locator(PANEL).locator(".jp-CoderAgents-chat")
    expect(child).not_to_have_attribute("data-chat-id", parent_id or "", timeout=10_000)
    expect(child.locator(".jp-CoderAgents-conversation")).to_contain_text(
        "called once, in app.py", timeout=10_000
    )
    expect(child.get_by_role("button", name="↑ Parent chat", exact=True)).to_be_visible()


def test_fork_from_a_message_starts_a_chat_with_the_history_up_to_it(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script("fork", [reply(text("First answer.")), reply(text("Second answer."))])
    chat = start_chat(page, "Two questions #fork")
    conversation = chat.locator(".jp-CoderAgents-conversation")
    expect(conversation).to_contain_text("First answer.", timeout=30_000)
    box = chat.get_by_role("textbox", name="Message", exact=True)
    box.fill("And the second?")
    box.press("Enter")
    expect(conversation).to_contain_text("Second answer.", timeout=30_000)
    original = chat.get_attribute("data-chat-id")
    first = conversation.locator('.jp-CoderAgents-message[data-role="assistant"]').first
    first.hover()
    first.get_by_role("button", name="Fork", exact=True).click()
    forked = page.locator(PANEL).locator(".jp-CoderAgents-chat")
    expect(forked).not_to_have_attribute("data-chat-id", original or "", timeout=15_000)
    expect(forked.locator(".jp-CoderAgents-conversation")).to_contain_text("First answer.")
    expect(forked.locator(".jp-CoderAgents-conversation")).not_to_contain_text("Second answer.")
    forked_id = forked.get_attribute("data-chat-id")
    assert agents_lab.get_json(f"chats/{forked_id}")["forked_from"] == original
    shot(page, screenshots, "fork")


def tiny_png() -> bytes:
    """A valid 8x8 PNG (a blue square)."""
    rows = b"".join(b"\x00" + b"\x1f\x6f\xd0" * 8 for _ in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_an_image_is_attached_with_the_button(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path, tmp_path: Path
) -> None:
    page = agents_page
    image = tmp_path / "plot.png"
    image.write_bytes(tiny_png())
    agents_lab.fake.script("image", [reply(text("A small blue square."))])
    panel = open_agents(page)
    panel.get_by_role("button", name="New chat", exact=True).click()
    with page.expect_file_chooser() as chooser:
        panel.get_by_role("button", name="Attach image", exact=True).click()
    chooser.value.set_files(str(image))
    chip = panel.locator(".jp-CoderAgents-composer").get_by_role(
        "button", name="Remove plot.png", exact=True
    )
    expect(chip).to_be_visible(timeout=10_000)
    shot(page, screenshots, "image-attached")
    box = panel.get_by_role("textbox", name="Message", exact=True)
    box.fill("What is in this picture? #image")
    box.press("Enter")
    chat = panel.locator(".jp-CoderAgents-chat")
    expect(chat.locator(".jp-CoderAgents-conversation")).to_contain_text(
        "A small blue square.", timeout=30_000
    )
    expect(chat.locator(".jp-CoderAgents-userBubble img")).to_have_count(1)
    (request,) = agents_lab.fake.requests_for("image")
    assert '"image"' in json.dumps(request.body["messages"][0])


def test_ask_agent_on_a_failing_cell(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script("cell", [reply(text("count is 0: no value exceeds 10."))])
    page.locator(".jp-DirListing-item", has_text="analysis.ipynb").dblclick()
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle")).to_have_count(
        1, timeout=60_000
    )
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    failing = page.locator(".jp-CodeCell").filter(has_text="ZeroDivisionError").first
    expect(failing).to_be_visible(timeout=60_000)
    failing.locator(".jp-InputArea-editor").click()
    page.locator(".jp-NotebookPanel-toolbar").get_by_role(
        "button", name="Ask agent", exact=True
    ).click()
    panel = page.locator(PANEL)
    box = panel.get_by_role("textbox", name="Message", exact=True)
    expect(box).to_be_visible()
    prompt = box.input_value()
    assert "analysis.ipynb" in prompt and "mean = total / count" in prompt
    assert "ZeroDivisionError" in prompt
    shot(page, screenshots, "ask-agent")
    box.press("End")
    box.type(" Why does this fail? #cell")
    box.press("Control+End")
    box.press("Enter")
    chat = panel.locator(".jp-CoderAgents-chat")
    expect(chat.locator(".jp-CoderAgents-conversation")).to_contain_text(
        "no value exceeds 10", timeout=30_000
    )
    (request,) = agents_lab.fake.requests_for("cell")
    assert "ZeroDivisionError" in json.dumps(request.body["messages"][0])


def test_an_error_shows_its_reason_and_retry_recovers(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "broken",
        [
            reply(fault=http_error(400, "The request was malformed in a way the fake decided.")),
            reply(text("Back on track.")),
        ],
    )
    chat = start_chat(page, "Try something #broken")
    banner = chat.locator('.jp-CoderAgents-banner[data-kind="error"]')
    expect(banner).to_contain_text("malformed", timeout=30_000)
    expect(status_of(chat)).to_have_attribute("data-status", "error")
    shot(page, screenshots, "error")
    banner.get_by_role("button", name="Retry", exact=True).click()
    expect(chat.locator(".jp-CoderAgents-conversation")).to_contain_text(
        "Back on track.", timeout=30_000
    )
    expect(banner).to_have_count(0)


def test_the_changes_view_lists_and_reverts_a_file(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "notes",
        [
            reply(tool_call("write_file", {"path": "NOTES.md", "content": "# Notes\n\n- mean\n"})),
            reply(text("Wrote NOTES.md.")),
        ],
    )
    chat = start_chat(page, "Write notes #notes")
    expect(status_of(chat)).to_have_attribute("data-status", "waiting", timeout=30_000)
    assert (agents_lab.root / "NOTES.md").exists()
    chat.get_by_role("button", name="Changes", exact=True).click()
    changes = chat.locator(".jp-CoderAgents-changes")
    expect(changes).to_contain_text("NOTES.md", timeout=10_000)
    expect(changes).to_contain_text("added")
    shot(page, screenshots, "changes")
    changes.get_by_role("button", name="Revert", exact=True).first.click()
    changes.get_by_role("button", name=re.compile("^(Confirm|Revert)")).last.click()
    expect(changes).to_contain_text("No file changes in this chat yet.", timeout=10_000)
    assert not (agents_lab.root / "NOTES.md").exists()


def test_main_states_in_light_and_dark(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    """The README's pictures: a chat with tool cards and a diff, a plan to approve, a tool call
    to approve, and a sub-agent tree, each in the light and the dark theme."""
    page = agents_page
    fake = agents_lab.fake
    fake.script(
        "docs-tools",
        [
            reply(
                thinking("Run it first, then fix the division."),
                text("Let me run the script first."),
                tool_call("execute", {"command": "python app.py && ls"}),
            ),
            reply(
                tool_call(
                    "edit_files",
                    {
                        "edits": [
                            {
                                "path": "app.py",
                                "old_text": "def mean(values: list[float]) -> float:\n",
                                "new_text": (
                                    "def mean(values: list[float]) -> float:\n"
                                    "    if not values:\n"
                                    "        raise ValueError('mean() of an empty list')\n"
                                ),
                            }
                        ]
                    },
                )
            ),
            reply(text("`mean([])` now raises a **ValueError** with a clear message.")),
        ],
    )
    fake.script(
        "docs-plan",
        [
            lambda r: reply(
                tool_call(
                    "write_file",
                    {
                        "path": plan_file(r),
                        "content": "# Plan: robust statistics\n\n"
                        "1. Guard `mean()` against empty input.\n"
                        "2. Add `median()` with tests.\n"
                        "3. Run the test suite.\n",
                    },
                )
            ),
            lambda r: reply(
                text("I read `app.py`; here is the plan."),
                tool_call("propose_plan", {"path": plan_file(r)}),
            ),
        ],
    )
    fake.script(
        "docs-agents",
        [
            reply(
                text("Two explorers will look in parallel."),
                tool_call(
                    "spawn_agent",
                    {"type": "explore", "prompt": "List callers #docs-child", "title": "Callers"},
                ),
                tool_call(
                    "spawn_agent",
                    {"type": "explore", "prompt": "Read the tests #docs-child", "title": "Tests"},
                ),
            ),
            lambda r: reply(tool_call("wait_agent", {"chat_ids": spawned_ids(r)})),
            reply(text("Both reports are in: `mean()` has one caller and no tests yet.")),
        ],
    )
    fake.script("docs-child", [reply(text("Found it: one place, in app.py."))])
    fake.script(
        "docs-approve",
        [
            reply(text("Ready.")),
            reply(
                text("I need to delete the build folder."),
                tool_call("execute", {"command": "rm -rf build/"}),
            ),
        ],
    )

    tools = agents_lab.post_json("chats", {"prompt": "Make mean() fail clearly #docs-tools"})
    plan = agents_lab.post_json(
        "chats", {"prompt": "Plan robust stats #docs-plan", "plan_mode": True}
    )
    agents = agents_lab.post_json("chats", {"prompt": "Who calls mean()? #docs-agents"})
    approve = agents_lab.post_json("chats", {"prompt": "Tidy up #docs-approve"})
    for chat in (tools, plan, agents, approve):
        agents_lab.wait_status(chat["id"], "waiting", timeout=30)
    agents_lab.call("PATCH", f"chats/{approve['id']}", {"tool_policy": {"execute": "ask"}})
    agents_lab.post_json(f"chats/{approve['id']}/messages", {"content": "Clean the build"})
    agents_lab.wait_status(approve["id"], "requires_action", timeout=30)

    states = {
        "chat": tools["id"],
        "plan": plan["id"],
        "subagents": agents["id"],
        "approval": approve["id"],
    }
    panel = open_agents(page)
    for theme in ("light", "dark"):
        if theme == "dark":
            dark_theme(page)  # the panel stays open, showing the last chat
        for name, chat_id in states.items():
            back = panel.get_by_role("button", name="All chats", exact=True)
            if back.count():
                back.first.click()
            item = panel.locator(f'.jp-CoderAgents-chatItem[data-chat-id="{chat_id}"]')
            item.locator(".jp-CoderAgents-chatOpen").click()
            chat = panel.locator(f'.jp-CoderAgents-chat[data-chat-id="{chat_id}"]')
            expect(chat.locator(".jp-CoderAgents-message").first).to_be_visible(timeout=15_000)
            page.wait_for_timeout(300)  # rendered Markdown and code highlighting settle
            shot(page, screenshots, f"docs-{name}-{theme}")


def test_the_chat_list_searches_opens_in_a_tab_and_archives(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script("list", [reply(text("Listed."))])
    first = agents_lab.post_json("chats", {"prompt": "Quarterly report #list"})
    second = agents_lab.post_json("chats", {"prompt": "Refactor the loader #list"})
    for chat in (first, second):
        agents_lab.wait_status(chat["id"], "waiting", timeout=30)
    panel = open_agents(page)
    items = panel.locator(".jp-CoderAgents-chatItem")
    # newest first, and search narrows by title
    expect(items.first).to_have_attribute("data-chat-id", second["id"], timeout=10_000)
    panel.get_by_role("searchbox", name="Search chats").fill("quarterly")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-chat-id", first["id"])
    # the context menu opens it in a main-area tab
    items.first.click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Open in a Tab").click()
    tab = page.locator(f'.jp-MainAreaWidget .jp-CoderAgents-chat[data-chat-id="{first["id"]}"]')
    expect(tab.locator(".jp-CoderAgents-conversation")).to_contain_text("Listed.", timeout=15_000)
    expect(
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Quarterly report")
    ).to_be_visible()
    shot(page, screenshots, "chat-in-tab")
    # archiving takes it off the list
    panel.get_by_role("button", name=f"Archive {first['title']}", exact=True).click()
    expect(items).to_have_count(0)
    assert agents_lab.get_json(f"chats/{first['id']}")["archived"] is True


def test_the_agent_uses_a_notebooks_live_kernel_with_consent(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "kernel",
        [
            reply(text("Ready when the kernel is.")),
            reply(
                tool_call("inspect_kernel", {"names": ["values", "total"]}),
                tool_call("run_in_kernel", {"code": "print(total * 2)"}),
            ),
            reply(text("values holds five numbers; total is 14 and twice that is 28.")),
        ],
    )
    # a notebook with live variables
    page.locator(".jp-DirListing-item", has_text="analysis.ipynb").dblclick()
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle")).to_have_count(
        1, timeout=60_000
    )
    page.locator(".jp-CodeCell").first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(page.locator(".jp-CodeCell").first.locator(".jp-OutputArea-output")).to_contain_text(
        "14", timeout=30_000
    )
    chat = start_chat(page, "Look at my data #kernel")
    expect(status_of(chat)).to_have_attribute("data-status", "waiting", timeout=30_000)
    # the user lets this chat use the notebook's kernel
    chat.get_by_role("combobox", name="Kernel access", exact=True).select_option("analysis.ipynb")
    chat_id = chat.get_attribute("data-chat-id")
    deadline = time.monotonic() + 10
    while agents_lab.get_json(f"chats/{chat_id}")["kernel"] is None:
        assert time.monotonic() < deadline, "the consent was not saved"
        time.sleep(0.2)
    box = chat.get_by_role("textbox", name="Message", exact=True)
    box.fill("What is in my variables?")
    box.press("Enter")
    conversation = chat.locator(".jp-CoderAgents-conversation")
    expect(conversation).to_contain_text("twice that is 28", timeout=30_000)
    shot(page, screenshots, "kernel-tools")
    # the model read the kernel's answers
    last = json.dumps(agents_lab.fake.requests_for("kernel")[-1].body)
    assert "[3, 1, 4, 1, 5]" in last and "28" in last
