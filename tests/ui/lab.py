"""A real JupyterLab subprocess, for the browser tests (``conftest.py``) and the UI benchmarks
(``bench/ui_long_chat.py``), which import this file by path: ``tests/ui`` is not a package.

Each server runs as a user would start it, with its own Jupyter config, data and runtime dirs,
its own user-settings dir (the news toast silenced) and workspaces dir, so nothing leaks in from
the machine or from another server. Real provider keys are removed from its environment: the
only model vendor it can reach is the ``FakeLLM`` the caller runs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Playwright

    from coder_agents_jupyter.testing.fake_provider import FakeLLM

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")
API = "coder-agents/api/v1/"
FAKE_KEY_ENV = "FAKE_ANTHROPIC_KEY"
# Chats seeded straight into the database must belong to the user the API sees; pinning the
# owner keeps that independent of the OS user running the server.
OWNER = "tester"
AGENTS_TAB = '.jp-SideBar li[data-id="coder-agents-panel"]'
TERMINAL = frozenset({"waiting", "paused", "error", "completed"})


class LabError(RuntimeError):
    """The server did not start, or an API call failed (the message says how)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabProcess:
    base_url: str  # ends with "/"
    token: str
    home: Path
    root: Path
    log_path: Path
    proc: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = 30
    ) -> tuple[int, Any]:
        """``(status, JSON body or None)`` of a request to ``path`` (relative to the server),
        authenticated with the token header (which also exempts it from the XSRF check)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"token {self.token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url(path), data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        status, data = self.call(method, path, body, timeout)
        if status >= 300:
            raise LabError(f"{method} {path} -> {status}: {data}")
        return data

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_lab(
    home: Path,
    *,
    server_config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> LabProcess:
    """Start JupyterLab with everything under ``home`` (its notebook root is ``home/root``,
    created if missing) and wait until it answers. ``server_config`` is written as the
    ``jupyter_server_config.json`` of its own config dir (the extension re-reads that file
    while it runs, as an admin's edits)."""
    root = home / "root"
    settings = home / "settings"
    workspaces = home / "workspaces"
    config_dir = home / "config"
    for folder in (root, workspaces, config_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # Silence the "get notified about official Jupyter news?" toast that covers the page.
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    if server_config is not None:
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config, indent=1))

    full_env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS}
    full_env.update(
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        **(env or {}),
    )
    port = free_port()
    token = secrets.token_hex(16)
    log_path = home / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",  # CI runs as root, where JupyterLab otherwise exits at once
        f"--port={port}",
        "--ServerApp.port_retries=0",  # a busy port must fail, not move to a stale neighbour
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={workspaces}",
    ]
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=full_env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    lab = LabProcess(f"http://127.0.0.1:{port}/", token, home, root, log_path, proc)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise LabError(f"JupyterLab exited ({proc.returncode}):\n{lab.log_tail()}")
            try:
                if lab.call("GET", "api/status", timeout=5)[0] == 200:
                    return lab
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise LabError(f"JupyterLab did not answer in {timeout:g} s:\n{lab.log_tail()}")
            time.sleep(0.2)
    except BaseException:
        lab.stop()
        raise


# ----- a JupyterLab with the agents configured against the fake vendor -----


def agents_config(fake_base_url: str, db_url: str) -> dict[str, Any]:
    """``c.CoderAgents`` of a server whose only provider is the fake Anthropic vendor."""
    return {
        "CoderAgents": {
            "owner": OWNER,
            "db_url": db_url,
            "providers": [
                {
                    "name": "fake",
                    "type": "anthropic",
                    "base_url": fake_base_url,
                    "api_key_env": FAKE_KEY_ENV,
                }
            ],
            "models": [
                {
                    "id": "fake-model",
                    "provider": "fake",
                    "display_name": "Fake Model",
                    "context_window": 200_000,
                    "supports_images": True,
                    "reasoning_effort": {"default": "medium", "max": "high"},
                    "default": True,
                },
                {
                    "id": "fake-small",
                    "provider": "fake",
                    "display_name": "Fake Small",
                    "context_window": 32_000,
                    "supports_images": False,
                },
            ],
            # Short leases, as the server tests use: a stuck turn shows up in seconds.
            "limits": {"heartbeat_seconds": 0.5, "stale_after_seconds": 5},
        }
    }


APP_PY = '''"""A tiny app for the agent to read and change."""


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


if __name__ == "__main__":
    print(mean([3, 1, 4, 1, 5]))
'''


def write_project(root: Path) -> None:
    """A small project: ``app.py``, a README, and ``analysis.ipynb`` whose second code cell
    fails with a ZeroDivisionError when run (something for the agent to find and fix)."""
    import nbformat

    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP_PY)
    (root / "README.md").write_text("# Demo project\n\n`app.py` and `analysis.ipynb`.\n")
    v4 = nbformat.v4
    notebook = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# Analysis\n\nThe mean of a few measurements."),
            v4.new_code_cell("values = [3, 1, 4, 1, 5]\ntotal = sum(values)\ntotal"),
            v4.new_code_cell("count = len([v for v in values if v > 10])\nmean = total / count"),
            v4.new_code_cell("print(f'mean = {mean:.2f}')"),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.write(notebook, root / "analysis.ipynb")


@dataclass
class AgentsLab:
    """A running JupyterLab with the agents extension talking to ``fake``.

    ``get_json``/``post_json``/``call`` take paths under ``coder-agents/api/v1/``; ``url``
    takes paths under the server root (``url("lab")``)."""

    lab: LabProcess
    fake: FakeLLM
    db_url: str

    @property
    def base_url(self) -> str:
        return self.lab.base_url

    @property
    def token(self) -> str:
        return self.lab.token

    @property
    def root(self) -> Path:
        return self.lab.root

    def url(self, path: str = "") -> str:
        return self.lab.url(path)

    def lab_url(self) -> str:
        """JupyterLab with the token and a reset workspace (no tabs left from earlier)."""
        return self.lab.url(f"lab?token={self.token}&reset")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.lab.call(method, API + path, body)

    def get_json(self, path: str) -> Any:
        return self.lab.request("GET", API + path)

    def post_json(self, path: str, body: Any = None) -> Any:
        return self.lab.request("POST", API + path, {} if body is None else body)

    def wait_status(
        self, chat_id: str, statuses: str | Iterable[str] = TERMINAL, timeout: float = 30
    ) -> dict[str, Any]:
        """Poll ``GET chats/{id}`` until its status is one of ``statuses``; return the chat."""
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        while True:
            chat: dict[str, Any] = self.get_json(f"chats/{chat_id}")
            if chat["status"] in wanted:
                return chat
            if time.monotonic() > deadline:
                raise LabError(
                    f"chat {chat_id} still {chat['status']!r} after {timeout:g} s "
                    f"(wanted {sorted(wanted)}; error: {chat.get('error')}):\n"
                    f"{self.lab.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        self.lab.stop()


def start_agents_lab(
    home: Path, fake: FakeLLM, *, db_url: str | None = None, timeout: float = 60
) -> AgentsLab:
    """Write the project and the server config under ``home`` and start JupyterLab. Pass
    ``db_url`` to use a database seeded beforehand (default: a fresh ``home/chats.db``)."""
    base = fake.start()  # idempotent: returns the running fake's URL
    db_url = db_url or f"sqlite:///{home / 'chats.db'}"
    write_project(home / "root")
    lab = start_lab(
        home,
        server_config=agents_config(base, db_url),
        env={FAKE_KEY_ENV: "sk-ant-fake-" + secrets.token_hex(8)},
        timeout=timeout,
    )
    return AgentsLab(lab, fake, db_url)


# ----- the browser side -----


def launch_chromium(playwright: Playwright, extra_args: Iterable[str] = ()) -> Browser:
    """Debian's Chromium, headless (never ``playwright install``)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )


def open_lab(page: Page, lab: AgentsLab, timeout_ms: float = 60_000) -> None:
    """Load JupyterLab (reset workspace) and wait until its layout is restored and the Agents
    tab is in the left sidebar (not clicked)."""
    page.goto(lab.lab_url())
    try:
        page.locator(AGENTS_TAB).wait_for(timeout=timeout_ms)
        # The sidebar (and the end of the splash screen) come before JupyterLab has restored
        # its layout: the reset workspace's Launcher and the project's file listing show that
        # it is done, so clicks and screenshots do not land on a page that is still changing.
        page.locator(".jp-Launcher").wait_for(timeout=timeout_ms)
        page.locator(".jp-DirListing-item").first.wait_for(timeout=timeout_ms)
    except Exception as exc:
        raise LabError(
            f"JupyterLab did not finish loading in {timeout_ms / 1000:g} s (the Agents sidebar "
            f"tab {AGENTS_TAB}, the Launcher and the file listing); is the labextension built "
            "and installed?"
        ) from exc


def reset_theme(lab: AgentsLab) -> None:
    """Back to JupyterLab's default (light) theme, through the settings REST API, so that a
    test that switched to dark does not leak it into the next one."""
    lab.lab.request("PUT", "lab/api/settings/@jupyterlab/apputils-extension:themes", {"raw": "{}"})


def dark_theme(page: Page, timeout_ms: float = 30_000) -> None:
    """Switch the open JupyterLab to its dark theme the way a user does (Settings -> Theme)
    and wait until the theme's CSS applies. The choice is saved in the server's user
    settings, so ``agents_page`` resets it for the next test."""
    page.get_by_role("menuitem", name="Settings", exact=True).click()
    # Submenus and checkable entries are not plain ARIA menuitems in Lumino: match the labels.
    _menu_item(page, "Theme").click()
    _menu_item(page, "JupyterLab Dark").click()
    # JupyterLab flips these body attributes once the theme's stylesheet has loaded.
    page.locator('body[data-jp-theme-light="false"]').wait_for(state="attached", timeout=timeout_ms)
    # A splash screen covers the page while the theme changes; screenshots must not show it.
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=timeout_ms)
    page.keyboard.press("Escape")  # close the menu if it is still open


def _menu_item(page: Page, label: str) -> Locator:
    """The open Lumino menu's entry labelled exactly ``label``."""
    exact = re.compile(f"^{re.escape(label)}$")
    return page.locator(".lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text=exact))
