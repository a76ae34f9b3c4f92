"""The Agents side panel in a real JupyterLab, driven in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PANEL_ID = "coder-agents-panel"


def open_agents_panel(page: Any, server: Any) -> Any:
    page.goto(server.url(f"lab?token={server.token}&reset"))
    tab = page.locator(f'.jp-SideBar li[data-id="{PANEL_ID}"]')
    tab.wait_for(timeout=60_000)
    tab.click()
    panel = page.locator(f"#{PANEL_ID}")
    expect(panel).to_be_visible()
    return panel


def test_panel_without_provider_shows_setup_hint(
    lab_server: Any, lab_page: Any, screenshots: Path
) -> None:
    # No provider key is in the server's environment, so no model is enabled and the server
    # answers a set-up hint; the panel must show exactly that hint.
    assert lab_server.get_json("coder-agents/api/v1/models") == []
    hint = lab_server.get_json("coder-agents/api/v1/providers")["hint"]
    assert hint

    panel = open_agents_panel(lab_page, lab_server)
    try:
        expect(panel.get_by_role("heading", name="Agents")).to_be_visible()
        expect(panel.locator(".jp-CoderAgents-hint")).to_have_text(hint)
        expect(panel.get_by_text("No chats yet.")).to_be_visible()
        expect(panel.get_by_role("button", name="New chat")).to_be_disabled()
        expect(panel.get_by_role("alert")).to_have_count(0)
    finally:
        lab_page.screenshot(path=str(screenshots / "panel-empty.png"))
