"""The ``agents_lab`` fixture itself: a JupyterLab subprocess reaching the fake vendor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab import AGENTS_TAB, AgentsLab, dark_theme
from playwright.sync_api import expect

from coder_agents_jupyter.testing import reply, text

pytestmark = pytest.mark.browser

HELLO = "Hello from the fake model."


def test_agents_lab_serves_models_and_fake_provider(agents_lab: AgentsLab) -> None:
    models = {m["id"]: m for m in agents_lab.get_json("models")}
    assert list(models) == ["fake-model", "fake-small"]
    assert models["fake-model"]["default"] is True
    assert models["fake-model"]["context_window"] == 200_000
    assert models["fake-model"]["reasoning_efforts"] == [
        "none",
        "minimal",
        "low",
        "medium",
        "high",
    ]
    assert models["fake-small"]["default"] is False
    assert models["fake-small"]["supports_images"] is False

    agents_lab.fake.script("hello", [reply(text(HELLO))])
    chat = agents_lab.post_json("chats", {"prompt": "#hello Say hello."})
    assert chat["model"] == "fake-model"
    done = agents_lab.wait_status(chat["id"], "waiting", timeout=30)
    assert done["error"] is None

    messages = agents_lab.get_json(f"chats/{chat['id']}/messages")
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[-1]["content"] == [{"type": "text", "text": HELLO}]
    # The subprocess really called the fake vendor, with the key from its environment.
    (seen,) = agents_lab.fake.requests_for("hello")
    assert seen.protocol == "anthropic"
    presented = seen.headers.get("x-api-key") or seen.headers.get("authorization", "")
    assert "sk-ant-fake-" in presented


def test_agents_lab_project_notebook_fails_in_its_second_code_cell(agents_lab: AgentsLab) -> None:
    # What the server shows, and what running the cells in order does.
    listing = agents_lab.lab.request("GET", "api/contents")
    assert {"app.py", "analysis.ipynb"} <= {item["name"] for item in listing["content"]}
    notebook = nbformat.read(agents_lab.root / "analysis.ipynb", as_version=4)
    first, second = [c.source for c in notebook.cells if c.cell_type == "code"][:2]
    scope: dict[str, Any] = {}
    exec(first, scope)
    with pytest.raises(ZeroDivisionError):
        exec(second, scope)


def test_agents_page_opens_lab_and_switches_to_dark(agents_page: Any, screenshots: Path) -> None:
    expect(agents_page.locator(AGENTS_TAB)).to_be_visible()
    expect(agents_page.locator("body")).to_have_attribute("data-jp-theme-light", "true")
    dark_theme(agents_page)
    expect(agents_page.locator("body")).to_have_attribute("data-jp-theme-name", "JupyterLab Dark")
    agents_page.screenshot(path=str(screenshots / "agents-lab-dark.png"))
