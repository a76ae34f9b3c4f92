"""The live chat widget in notebooks: JupyterLab, Notebook 7, and its saved static snapshot.

A notebook displays a chat; the widget (the panel's own chat view, fed through the kernel)
streams the answer, sends a follow-up through the kernel, and the saved notebook's snapshot
renders without any kernel (as nbviewer or GitHub show it).
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from lab import AgentsLab
from nbconvert import HTMLExporter
from playwright.sync_api import Page, expect

from coder_agents_jupyter.testing import reply, stall, text, tool_call

pytestmark = pytest.mark.browser

WIDGET = ".jp-CoderAgents-widget"


def write_notebook(lab: AgentsLab, name: str, prompt: str) -> Path:
    v4 = nbformat.v4
    cells = [
        v4.new_code_cell(
            "from coder_agents_jupyter import Agents\n"
            "agents = Agents()\n"
            f"chat = agents.chat({prompt!r})\n"
            "chat"
        )
    ]
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    path = lab.root / name
    nbformat.write(v4.new_notebook(cells=cells, metadata=metadata), path)
    return path


def wait_for_idle_kernel(page: Page, lab: AgentsLab, notebook: str, timeout: float = 60) -> None:
    """Until the notebook's own kernel is idle and its cells are on the page: "Run All"
    while the kernel still connects does nothing."""
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        sessions = lab.lab.request("GET", "api/sessions")
        mine = [s for s in sessions if s.get("path", "").endswith(notebook) and s.get("kernel")]
        state = mine[0]["kernel"]["execution_state"] if mine else None
        if state == "idle":
            page.wait_for_timeout(500)  # the page's kernel connection settles too
            return
        time.sleep(0.3)
    raise AssertionError(f"the kernel of {notebook} is not idle after {timeout} s: {state}")


def run_all(page: Page) -> None:
    """Run → Run All Cells (again if the menu closed before its entry showed)."""
    for _ in range(3):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        entry = page.get_by_role("menuitem", name="Run All Cells", exact=True)
        try:
            entry.click(timeout=5_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError("the Run menu never offered Run All Cells")


def shut_down_kernels(lab: AgentsLab) -> None:
    for kernel in lab.lab.request("GET", "api/kernels"):
        lab.lab.call("DELETE", f"api/kernels/{kernel['id']}")


def test_widget_streams_in_jupyterlab_and_its_snapshot_renders_without_a_kernel(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "wlive",
        [
            reply(text("Running it."), tool_call("execute", {"command": "python app.py"})),
            reply(
                text("The mean of the sample is **2.8**, as printed."), fault=stall(2.5, after=4)
            ),
            reply(text("Follow-up received through the kernel.")),
        ],
    )
    path = write_notebook(agents_lab, "widget_live.ipynb", "Run app.py #wlive")
    page.goto(agents_lab.url(f"lab/tree/{path.name}") + f"?token={agents_lab.token}")
    wait_for_idle_kernel(page, agents_lab, path.name)
    run_all(page)
    try:
        widget = page.locator(WIDGET)
        conversation = widget.locator(".jp-CoderAgents-conversation")
        # it streams: the first words while the turn still runs, then the rest
        expect(conversation).to_contain_text("The mean of", timeout=30_000)
        status = widget.locator(".jp-CoderAgents-chatHeader .jp-CoderAgents-status").first
        expect(status).to_have_attribute("data-status", "running")
        expect(conversation).to_contain_text("as printed.", timeout=30_000)
        expect(status).to_have_attribute("data-status", "waiting", timeout=30_000)
        expect(widget.locator('.jp-CoderAgents-toolCard[data-tool="execute"]')).to_have_attribute(
            "data-state", "done"
        )
        # a follow-up from the widget's own composer goes through the kernel
        box = widget.get_by_role("textbox", name="Message", exact=True)
        box.fill("And now?")
        box.press("Enter")
        expect(conversation).to_contain_text(
            "Follow-up received through the kernel.", timeout=30_000
        )
        expect(status).to_have_attribute("data-status", "waiting", timeout=30_000)
        page.screenshot(path=str(screenshots / "widget-jupyterlab.png"))
        # saving keeps the widget and a static snapshot of the conversation
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 20
        while "Follow-up received" not in path.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
            page.keyboard.press("Control+s")
    finally:
        shut_down_kernels(agents_lab)
    saved = nbformat.read(path, as_version=4)
    (output,) = [o for o in saved.cells[0].outputs if "text/html" in o.get("data", {})]
    assert "application/vnd.jupyter.widget-view+json" in output["data"]
    html_out, _ = HTMLExporter().from_notebook_node(saved)
    snapshot = page.context.new_page()
    snapshot.set_content(html_out)  # no server, no kernel: what nbviewer shows
    expect(snapshot.locator(".coder-agents-snapshot")).to_contain_text("The mean of the sample")
    expect(snapshot.locator(".coder-agents-snapshot")).to_contain_text("python app.py")
    snapshot.screenshot(path=str(screenshots / "widget-snapshot.png"), full_page=False)
    snapshot.close()


def test_widget_renders_in_notebook_7(
    agents_lab: AgentsLab, agents_page: Page, screenshots: Path
) -> None:
    page = agents_page
    agents_lab.fake.script(
        "wnb7",
        [reply(text("Hello from Notebook 7: the same view as in JupyterLab."))],
    )
    path = write_notebook(agents_lab, "widget_nb7.ipynb", "Greet me #wnb7")
    page.goto(agents_lab.url(f"notebooks/{path.name}") + f"?token={agents_lab.token}")
    try:
        wait_for_idle_kernel(page, agents_lab, path.name)
        run_all(page)
        widget = page.locator(WIDGET)
        expect(widget.locator(".jp-CoderAgents-conversation")).to_contain_text(
            "Hello from Notebook 7", timeout=30_000
        )
        expect(widget.get_by_role("textbox", name="Message", exact=True)).to_be_visible()
        page.screenshot(path=str(screenshots / "widget-notebook7.png"))
    finally:
        shut_down_kernels(agents_lab)
