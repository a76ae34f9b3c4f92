"""Browser-test fixtures: real JupyterLab subprocesses and Debian's headless Chromium.

Each server runs as its own process (as a user would start it) with isolated Jupyter config,
data and runtime dirs (see ``lab.py``). ``lab_server`` has no provider at all; ``agents_lab``
talks to a ``FakeLLM`` running in this test process, with a small project as its root.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# tests/ui is not a package, and bench/ui_long_chat.py imports lab.py by path too; make the
# import independent of pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

from lab import (  # noqa: E402
    REPO,
    AgentsLab,
    LabError,
    launch_chromium,
    open_lab,
    reset_theme,
    start_agents_lab,
    start_lab,
)

from coder_agents_jupyter.testing.fake_provider import FakeLLM  # noqa: E402

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


# pytest-jupyter makes these two fixtures autouse for every test; they manage an asyncio loop
# and an in-process server that these tests do not use, and they break Playwright's sync API
# at teardown ("Cannot close a running event loop"). Neutralise them here.
@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    yield


@dataclass
class LabServer:
    base_url: str  # ends with "/"
    token: str
    log_path: Path

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get_json(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url(path), headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A JupyterLab without any provider key: no model is enabled."""
    try:
        lab = start_lab(tmp_path_factory.mktemp("lab"))
    except LabError as exc:
        pytest.fail(str(exc))
    try:
        yield LabServer(lab.base_url, lab.token, lab.log_path)
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def agents_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentsLab]:
    """A JupyterLab whose agents use the fake vendor: models ``fake-model`` (default) and
    ``fake-small``, a SQLite chat database ``db_url``, and a project in ``root`` (``app.py``,
    ``analysis.ipynb`` whose second code cell divides by zero). Script replies with
    ``agents_lab.fake.script("tag", [...])`` and a ``#tag`` in the first prompt."""
    fake = FakeLLM()
    fake.start()
    try:
        try:
            lab = start_agents_lab(tmp_path_factory.mktemp("agents-lab"), fake)
        except LabError as exc:
            pytest.fail(str(exc))
        try:
            yield lab
        finally:
            lab.stop()
    finally:
        fake.stop()


# Module scope, not session: while Playwright's sync API is active it leaves its event loop
# marked as running in this thread, which breaks every asyncio test that pytest runs after it.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def lab_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def agents_page(chromium: Any, agents_lab: AgentsLab) -> Iterator[Any]:
    """A fresh browser context on ``agents_lab``'s JupyterLab (light theme, reset workspace),
    opened and showing the Agents sidebar tab (not clicked)."""
    reset_theme(agents_lab)  # an earlier test may have saved the dark theme
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        open_lab(page, agents_lab)
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
