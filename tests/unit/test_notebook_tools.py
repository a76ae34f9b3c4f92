"""Notebook tools through ``invoke_tool``: read_file's cell listing, edit_notebook, run_notebook.

Every test runs on a local folder and over SSH (the ``make_workspace`` fixture), with real
files, real nbformat validation and real kernels started by nbclient in the workspace.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
import pytest_asyncio

from coder_agents_jupyter.tools.base import ToolContext, ToolResult, invoke_tool
from coder_agents_jupyter.tools.workspace_tools import WORKSPACE_TOOLS
from coder_agents_jupyter.workspaces.base import Workspace

TOOLS = {t.name: t for t in WORKSPACE_TOOLS}
PY = sys.executable  # the workspace's Python with nbclient and ipykernel (same machine)


@dataclass
class Harness:
    ws: Workspace
    root: Path
    ctx: ToolContext
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)

    async def call(self, tool: str, /, **args: Any) -> ToolResult:
        return await invoke_tool(TOOLS, tool, args, self.ctx)


@pytest_asyncio.fixture
async def h(tmp_path: Path, make_workspace: Callable[..., Workspace]) -> AsyncIterator[Harness]:
    ws = make_workspace()
    changes: list[tuple[str, Any, Any]] = []

    async def get_workspace() -> Workspace:
        return ws

    async def save_attachment(name: str, media_type: str, data: bytes) -> str:
        return "att-1"

    async def record_change(path: str, before: Any, after: Any) -> None:
        changes.append((path, before, after))

    ctx = ToolContext(
        chat_id="chat-1",
        owner="alice",
        get_workspace=get_workspace,
        save_attachment=save_attachment,
        record_change=record_change,
    )
    yield Harness(ws, tmp_path, ctx, changes)


def make_notebook(path: Path, *cells: Any, minor: int = 5) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = list(cells)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    if minor < 5:
        nb.nbformat_minor = minor
        for cell in nb.cells:
            del cell["id"]
    data = nbformat.writes(nb).encode()
    path.write_bytes(data)
    return data


def code(source: str, *outputs: Any, count: int | None = None) -> Any:
    return nbformat.v4.new_code_cell(source, outputs=list(outputs), execution_count=count)


def md(source: str) -> Any:
    return nbformat.v4.new_markdown_cell(source)


def sample(path: Path) -> bytes:
    """Four cells: [0] md c0, [1] code c1 (with outputs), [2] code c2, [3] md c3."""
    return make_notebook(
        path,
        md("# Title"),
        code(
            "x = 1\nprint(x)",
            nbformat.v4.new_output("stream", name="stdout", text="1\n"),
            count=1,
        ),
        code("y = x + 1"),
        md("The end."),
    )


def cells_of(path: Path) -> list[tuple[str, str, str]]:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)  # every result must validate
    return [(c.get("id"), c.cell_type, c.source) for c in nb.cells]


# ----- read_file -----


@pytest.mark.asyncio
async def test_read_file_lists_cells_not_json(h: Harness) -> None:
    png = "iVBORw0KGgo" * 200
    make_notebook(
        h.root / "nb.ipynb",
        md("# Analysis\nSome words."),
        code(
            "import pandas as pd\ndf.describe()",
            nbformat.v4.new_output(
                "stream", name="stdout", text="".join(f"l{i}\n" for i in range(100))
            ),
            nbformat.v4.new_output(
                "execute_result",
                data={"text/plain": "<table>", "image/png": png},
                execution_count=4,
            ),
            nbformat.v4.new_output(
                "error",
                ename="ValueError",
                evalue="bad value",
                traceback=["\x1b[0;31mValueError\x1b[0m: bad value", "  File x, line 3"],
            ),
            count=4,
        ),
        code(""),
    )
    r = await h.call("read_file", path="nb.ipynb")
    assert not r.is_error, r.content
    text = r.content
    assert "Jupyter notebook" in text and "3 cells" in text and "kernel Python 3" in text
    assert "### [0] markdown · id=c0\n# Analysis\nSome words." in text
    assert "### [1] code · id=c1 · execution_count=4\nimport pandas as pd" in text
    assert "### [2] code · id=c2 · not run\n(empty)" in text
    assert "stdout:\nl0\n" in text and "lines omitted" in text  # long stream clipped
    assert "result:\n<table>\n(also image/png" in text and png not in text
    assert "error: ValueError: bad value" in text and "\x1b[" not in text
    assert '"cell_type"' not in text and "[End of notebook.]" in text

    # offset/limit count cells for notebooks
    r = await h.call("read_file", path="nb.ipynb", offset=2, limit=1)
    assert "### [1] code" in r.content and "### [0]" not in r.content and "### [2]" not in r.content
    assert "continue with offset=3" in r.content
    r = await h.call("read_file", path="nb.ipynb", offset=9)
    assert r.is_error and "it has 3 cells" in r.content


@pytest.mark.asyncio
async def test_read_file_of_a_broken_notebook_shows_its_text(h: Harness) -> None:
    (h.root / "broken.ipynb").write_text('{"cells": [\n')
    r = await h.call("read_file", path="broken.ipynb")
    assert not r.is_error and '{"cells": [' in r.content and "1 lines" in r.content


# ----- edit_notebook -----


@pytest.mark.asyncio
async def test_insert_by_index_and_after_cell_id(h: Harness) -> None:
    path = h.root / "nb.ipynb"
    before = sample(path)
    r = await h.call(
        "edit_notebook",
        path="nb.ipynb",
        edits=[
            {"op": "insert", "index": 0, "cell_type": "markdown", "source": "Intro"},
            {"op": "insert", "cell_id": "c2", "source": "z = y * 2"},
            {"op": "insert", "source": "print(z)"},  # no position: appended
        ],
    )
    assert not r.is_error, r.content
    cells = cells_of(path)
    assert [(t, s) for _, t, s in cells] == [
        ("markdown", "Intro"),
        ("markdown", "# Title"),
        ("code", "x = 1\nprint(x)"),
        ("code", "y = x + 1"),
        ("code", "z = y * 2"),
        ("markdown", "The end."),
        ("code", "print(z)"),
    ]
    new_ids = {cells[0][0], cells[4][0], cells[6][0]}
    assert len(new_ids) == 3 and not new_ids & {"c0", "c1", "c2", "c3"}
    assert "inserted markdown cell [0]" in r.content and "It now has 7 cells" in r.content
    assert "+z = y * 2" in r.display["diff"]
    assert h.changes == [(str(path), before, path.read_bytes())]


@pytest.mark.asyncio
async def test_replace_by_id_and_index(h: Harness) -> None:
    path = h.root / "nb.ipynb"
    sample(path)
    r = await h.call(
        "edit_notebook",
        path="nb.ipynb",
        edits=[
            {"op": "replace", "cell_id": "c1", "source": ["x = 2\n", "print(x)"]},
            {"op": "replace", "index": 3, "source": "Fin.", "cell_type": "raw"},
            {"op": "replace", "index": 0, "cell_type": "code"},
        ],
    )
    assert not r.is_error, r.content
    assert cells_of(path) == [
        ("c0", "code", "# Title"),
        ("c1", "code", "x = 2\nprint(x)"),
        ("c2", "code", "y = x + 1"),
        ("c3", "raw", "Fin."),
    ]
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None  # stale outputs
    assert nb.cells[0].outputs == [] and "outputs" not in nb.cells[3]


@pytest.mark.asyncio
async def test_delete_and_move_by_id_and_index(h: Harness) -> None:
    path = h.root / "nb.ipynb"
    sample(path)
    r = await h.call(
        "edit_notebook",
        path="nb.ipynb",
        edits=[
            {"op": "move", "cell_id": "c3", "to_index": 0},  # c3 c0 c1 c2
            {"op": "move", "index": 1, "to_index": 3},  # c3 c1 c2 c0
            {"op": "delete", "cell_id": "c1"},  # c3 c2 c0
            {"op": "delete", "index": 1},  # c3 c0
        ],
    )
    assert not r.is_error, r.content
    assert [i for i, _, _ in cells_of(path)] == ["c3", "c0"]
    assert "moved id=c3 from [3] to [0]" in r.content and "deleted [1] id=c2" in r.content


@pytest.mark.parametrize(
    ("edits", "words"),
    [
        ([{"op": "replace", "cell_id": "nope", "source": "x"}], "no cell with id 'nope'"),
        ([{"op": "delete", "index": 4}], "index 4 is out of range"),
        ([{"op": "insert", "index": 5, "source": "x"}], "insert at 4 at most"),
        ([{"op": "insert", "index": 0}], "insert needs source"),
        ([{"op": "move", "cell_id": "c0"}], "move needs to_index"),
        ([{"op": "move", "cell_id": "c0", "to_index": 4}], "to_index 4 is out of range"),
        ([{"op": "replace", "index": 1}], "replace needs source and/or cell_type"),
        ([{"op": "delete", "cell_id": "c0", "index": 0}], "not both"),
        ([{"op": "delete"}], "delete needs cell_id or index"),
        (  # a good edit, then a bad one: nothing applies
            [{"op": "delete", "cell_id": "c0"}, {"op": "delete", "cell_id": "c0"}],
            "Edit 2 of 2 (delete): there is no cell with id 'c0'",
        ),
        ([{"op": "rename", "index": 0}], "Invalid arguments for edit_notebook"),
        ([{"op": "replace", "index": 0, "cell_type": "heading"}], "Invalid arguments"),
        ([{"op": "delete", "index": -1}], "Invalid arguments"),
        ([], "Invalid arguments"),
    ],
)
@pytest.mark.asyncio
async def test_invalid_requests_leave_the_file_unchanged(
    h: Harness, edits: list[dict[str, Any]], words: str
) -> None:
    path = h.root / "nb.ipynb"
    before = sample(path)
    r = await h.call("edit_notebook", path="nb.ipynb", edits=edits)
    assert r.is_error and words in r.content, r.content
    assert path.read_bytes() == before
    assert h.changes == []


@pytest.mark.asyncio
async def test_files_that_are_not_valid_notebooks_are_not_touched(h: Harness) -> None:
    broken = h.root / "broken.ipynb"
    broken.write_text('{"cells": [')
    r = await h.call("edit_notebook", path="broken.ipynb", edits=[{"op": "insert", "source": "x"}])
    assert r.is_error and "not valid JSON" in r.content and "not changed" in r.content
    assert broken.read_text() == '{"cells": ['

    # Valid JSON, but not a valid notebook: the edit would not validate, so nothing is written
    invalid = h.root / "invalid.ipynb"
    nb = json.loads(nbformat.writes(nbformat.v4.new_notebook(cells=[md("hi")])))
    nb["cells"][0]["cell_type"] = "markdown"
    nb["cells"][0]["outputs"] = []  # markdown cells have no outputs
    original = json.dumps(nb, indent=2).encode()
    invalid.write_bytes(original)
    r = await h.call(
        "edit_notebook", path="invalid.ipynb", edits=[{"op": "insert", "source": "x = 1"}]
    )
    assert r.is_error and "would not be valid" in r.content and "already invalid" in r.content
    assert invalid.read_bytes() == original

    (h.root / "notes.txt").write_text("x")
    r = await h.call("edit_notebook", path="notes.txt", edits=[{"op": "insert", "source": "x"}])
    assert r.is_error and "not a notebook" in r.content
    assert h.changes == []


@pytest.mark.asyncio
async def test_old_notebooks_get_ids_and_new_ones_are_created(h: Harness) -> None:
    old = h.root / "old.ipynb"
    make_notebook(old, code("a = 1"), md("text"), minor=4)
    r = await h.call("edit_notebook", path="old.ipynb", edits=[{"op": "delete", "index": 1}])
    assert not r.is_error, r.content
    nb = nbformat.read(old, as_version=4)
    assert nb.nbformat_minor >= 5 and nb.cells[0].get("id") and "given ids" in r.content
    assert cells_of(old)[0][1:] == ("code", "a = 1")

    r = await h.call(
        "edit_notebook",
        path="new/fresh.ipynb",
        edits=[{"op": "insert", "source": "print('hi')"}],
    )
    assert r.is_error and "does not exist" in r.content  # its folder is missing
    r = await h.call(
        "edit_notebook",
        path="fresh.ipynb",
        edits=[
            {"op": "insert", "cell_type": "markdown", "source": "# New"},
            {"op": "insert", "source": "print('hi')"},
        ],
    )
    assert not r.is_error and r.content.startswith("Created")
    assert [(t, s) for _, t, s in cells_of(h.root / "fresh.ipynb")] == [
        ("markdown", "# New"),
        ("code", "print('hi')"),
    ]
    assert h.changes[-1][1] is None  # recorded as a new file


# ----- run_notebook -----


def runnable(path: Path) -> bytes:
    return make_notebook(
        path,
        md("# Run me"),
        code("import os\nprint('cwd', os.getcwd())\nx = 41"),
        code("x + 1"),
        code("raise ValueError('broken on purpose')"),
        code("print('after the error')"),
        code("1 / 0"),
    )


@pytest.mark.asyncio
async def test_run_notebook_reports_errors_per_cell(h: Harness) -> None:
    path = h.root / "run.ipynb"
    before = runnable(path)
    r = await h.call("run_notebook", path="run.ipynb", python=PY, timeout_seconds=60)
    assert not r.is_error, r.content
    assert "3 of 5 code cells ran, 1 raised an error" in r.content
    assert "Error in cell [3] id=c3:\nValueError: broken on purpose" in r.content
    assert "Cells [4]-[5] were not run" in r.content
    assert r.display is not None and r.display["errors"] == [
        {"index": 3, "cell_id": "c3", "ename": "ValueError", "evalue": "broken on purpose"}
    ]
    assert path.read_bytes() == before  # not saved unless asked


@pytest.mark.asyncio
async def test_run_notebook_all_cells_and_save_outputs(h: Harness) -> None:
    path = h.root / "run.ipynb"
    before = runnable(path)
    r = await h.call(
        "run_notebook", path="run.ipynb", python=PY, stop_on_error=False, save_outputs=True
    )
    assert not r.is_error, r.content
    assert "5 of 5 code cells ran, 2 raised an error" in r.content
    assert "Error in cell [5] id=c5:\nZeroDivisionError" in r.content
    assert "Saved the outputs" in r.content
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[1].outputs[0]["text"] == f"cwd {h.root}\n"  # ran in the notebook's folder
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "42"
    assert nb.cells[4].outputs[0]["text"] == "after the error\n"
    assert h.changes == [(str(path), before, path.read_bytes())]


@pytest.mark.asyncio
async def test_run_notebook_timeout_and_missing_nbclient(h: Harness) -> None:
    path = h.root / "slow.ipynb"
    make_notebook(path, code("x = 1"), code("import time\ntime.sleep(60)"), code("y = 2"))
    r = await h.call("run_notebook", path="slow.ipynb", python=PY, timeout_seconds=3)
    assert not r.is_error, r.content
    assert "Cell [1] did not finish within the time limit" in r.content
    assert "Cells [2] were not run" in r.content

    bare = h.root / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec {PY} -S "$@"\n')  # no site-packages: no nbclient
    bare.chmod(0o755)
    r = await h.call("run_notebook", path="slow.ipynb", python=str(bare))
    assert r.is_error and "cannot run notebooks" in r.content and "pip install" in r.content

    r = await h.call("run_notebook", path="missing.ipynb", python=PY)
    assert r.is_error and "does not exist" in r.content
