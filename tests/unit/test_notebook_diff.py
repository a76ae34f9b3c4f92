"""The change review's diff of a notebook: cells as readable ``# %%`` text, not JSON.

Notebooks are built with nbformat and written as Jupyter writes them; the diff is checked as
text (what the frontend's parser reads) and its +/- counts against its own lines.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

from coder_agents_jupyter.db.changes import NOTEBOOK_SAME, FileDiff, _net, side, unified_diff
from coder_agents_jupyter.db.models import FileChange
from coder_agents_jupyter.notebook_text import (
    MAX_SUMMARY_CHARS,
    notebook_lines,
    outputs_summary,
    parse_cells,
)

PATH = "analysis.ipynb"


def code(cell_id: str, source: str, *outputs: Any, count: int | None = None) -> Any:
    cell = nbformat.v4.new_code_cell(source, outputs=list(outputs), execution_count=count)
    cell["id"] = cell_id
    return cell


def md(cell_id: str, source: str) -> Any:
    cell = nbformat.v4.new_markdown_cell(source)
    cell["id"] = cell_id
    return cell


def stream(text: str, name: str = "stdout") -> Any:
    return nbformat.v4.new_output("stream", name=name, text=text)


def notebook(*cells: Any, kernel: str = "python3") -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = list(cells)
    return nbformat.writes(nb).encode()


def base() -> list[Any]:
    """Three cells: [0] md m0, [1] code a (printed 1 line), [2] code b."""
    return [
        md("m0", "# Title\nSome words."),
        code("a", "x = 1\nprint(x)", stream("1\n"), count=1),
        code("b", "y = x + 1"),
    ]


def diff(before: bytes | None, after: bytes | None, path: str = PATH) -> tuple[str, int, int]:
    text, added, removed = unified_diff(path, side(before), side(after))
    # the counts are the text's own + and - lines (the frontend counts them the same way)
    body = [ln for ln in text.splitlines() if not ln.startswith(("--- ", "+++ "))]
    assert added == sum(ln.startswith("+") for ln in body)
    assert removed == sum(ln.startswith("-") for ln in body)
    return text, added, removed


def net(before: bytes | None, after: bytes | None) -> FileDiff | None:
    b, a = side(before), side(after)
    row = FileChange(
        path=PATH,
        before=b.text,
        after=a.text,
        before_exists=b.exists,
        after_exists=a.exists,
        before_size=b.size,
        after_size=a.size,
        before_sha256=b.sha256,
        after_sha256=a.sha256,
    )
    return _net(PATH, row, row)


def no_json(text: str) -> None:
    assert '"source"' not in text and '"cell_type"' not in text and '"outputs"' not in text


# ----- the rendering -----


def test_cells_render_as_headers_sources_and_an_output_summary() -> None:
    png = "iVBORw0KGgo" * 500
    cells = [
        md("m0", "# Title\nSome words."),
        code(
            "9f2c",
            "print('hi')\n1 / 0",
            stream("one\ntwo\n"),
            nbformat.v4.new_output(
                "error",
                ename="ZeroDivisionError",
                evalue="division by zero",
                traceback=["\x1b[0;31mZeroDivisionError\x1b[0m", "  File x, line 2"],
            ),
            nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Fig>"}),
            count=3,
        ),
        code("c", "21 * 2", nbformat.v4.new_output("execute_result", data={"text/plain": "42"})),
        code("empty", ""),
    ]
    assert notebook_lines(cells) == [
        "# %% [markdown] cell 0 (id m0)",
        "# Title",
        "Some words.",
        "",
        "# %% [code] cell 1 (id 9f2c)",
        "print('hi')",
        "1 / 0",
        "# -> output: 2 lines of stdout, 1 error: ZeroDivisionError: division by zero, 1 image/png",
        "",
        "# %% [code] cell 2 (id c)",
        "21 * 2",
        "# -> output: 1 result: 42",
        "",
        "# %% [code] cell 3 (id empty)",
    ]
    # without positions the lines are as many, only the headers differ
    plain = notebook_lines(cells, positions=False)
    assert len(plain) == len(notebook_lines(cells)) and plain[4] == "# %% [code] (id 9f2c)"
    assert notebook_lines([]) == ["# (the notebook has no cells)"]


def test_output_summary_is_bounded() -> None:
    outputs = [
        nbformat.v4.new_output("error", ename=f"E{i}", evalue="x" * 500, traceback=[])
        for i in range(20)
    ]
    summary = outputs_summary(outputs)
    assert len(summary) <= MAX_SUMMARY_CHARS and summary.endswith("…")
    assert outputs_summary([stream("a\nb\n"), stream("c\n"), stream("!\n", "stderr")]) == (
        "3 lines of stdout, 1 line of stderr"
    )


@pytest.mark.parametrize("text", ["{bad", "[]", '{"cells": 3}', '{"cells": [1]}', ""])
def test_what_is_not_a_notebook_has_no_cells(text: str) -> None:
    assert parse_cells(text) is None


# ----- the diff -----


def test_a_changed_cell_shows_its_source_lines() -> None:
    after = base()
    after[2] = code("b", "y = x + 2")
    text, added, removed = diff(notebook(*base()), notebook(*after))
    assert text.startswith("--- a/analysis.ipynb\n+++ b/analysis.ipynb\n@@ ")
    assert " # %% [code] cell 2 (id b)\n-y = x + 1\n+y = x + 2\n" in text
    assert (added, removed) == (1, 1)
    no_json(text)


def test_an_inserted_cell_reads_as_one_added_block() -> None:
    after = base()
    after.insert(1, code("new", "import math"))
    text, added, removed = diff(notebook(*base()), notebook(*after))
    # later cells move down a place, but their headers are not shown as changed
    assert "+# %% [code] cell 1 (id new)\n+import math\n" in text
    assert " # %% [code] cell 2 (id a)\n x = 1\n" in text
    assert (added, removed) == (3, 0)


def test_a_deleted_cell_reads_as_one_removed_block() -> None:
    after = base()
    del after[0]
    text, added, removed = diff(notebook(*base()), notebook(*after))
    assert "-# %% [markdown] cell 0 (id m0)\n-# Title\n-Some words.\n-\n" in text
    assert (added, removed) == (0, 4)


def test_a_moved_cell_leaves_its_place_and_appears_in_the_new_one() -> None:
    before = base()
    after = [before[1], before[2], before[0]]
    text, added, removed = diff(notebook(*before), notebook(*after))
    assert "-# %% [markdown] cell 0 (id m0)\n-# Title\n-Some words.\n" in text
    assert "+# %% [markdown] cell 2 (id m0)\n+# Title\n+Some words.\n" in text
    assert (added, removed) == (4, 4)
    no_json(text)


def test_outputs_that_change_their_summary_show_only_that_line() -> None:
    after = base()
    after[1] = code(
        "a",
        "x = 1\nprint(x)",
        nbformat.v4.new_output("error", ename="NameError", evalue="name 'x' is not defined"),
        count=2,
    )
    text, added, removed = diff(notebook(*base()), notebook(*after))
    assert (
        "-# -> output: 1 line of stdout\n"
        "+# -> output: 1 error: NameError: name 'x' is not defined\n"
    ) in text
    assert (added, removed) == (1, 1)


def test_metadata_and_same_shaped_outputs_say_so_in_one_line() -> None:
    # a re-run (new count, new text of the same shape) in another kernel
    after = base()
    after[1] = code("a", "x = 1\nprint(x)", stream("2\n"), count=7)
    before, changed = notebook(*base()), notebook(*after, kernel="python3.12")
    assert diff(before, changed) == (NOTEBOOK_SAME, 0, 0)
    change = net(before, changed)
    assert change is not None and change.status == "modified" and not change.binary
    assert (change.diff, change.additions, change.deletions) == (NOTEBOOK_SAME, 0, 0)


def test_added_and_deleted_notebooks() -> None:
    data = notebook(*base())
    text, added, removed = diff(None, data)
    assert text.startswith("--- /dev/null\n+++ b/analysis.ipynb\n@@ ")
    assert "+# %% [code] cell 1 (id a)\n+x = 1\n+print(x)\n+# -> output: 1 line of stdout\n" in text
    assert added == 11 and removed == 1  # the empty side reads "(the notebook has no cells)"
    assert "-# (the notebook has no cells)\n" in text
    no_json(text)
    text, added, removed = diff(data, None)
    assert text.startswith("--- a/analysis.ipynb\n+++ /dev/null\n@@ ")
    assert "-# %% [code] cell 2 (id b)\n-y = x + 1\n" in text and (added, removed) == (1, 11)
    change = net(None, data)
    assert change is not None and change.status == "added" and change.additions == 11


def test_a_side_that_is_not_a_notebook_falls_back_to_the_text_diff() -> None:
    good = notebook(*base())
    text, added, removed = diff(b"{not json\n", good)
    assert "-{not json\n" in text and '+   "cell_type": "markdown",\n' in text
    assert removed == 1 and added == len(good.decode().splitlines())
    text, _, _ = diff(good, b'{"not": "a notebook"}\n')
    assert '+{"not": "a notebook"}\n' in text and '-   "source": [\n' in text
    # only .ipynb files are read as notebooks
    text, _, _ = diff(good, notebook(*base()[:1]), path="analysis.json")
    assert '"cell_type"' in text
