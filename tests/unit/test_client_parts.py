"""Parts of the Python client that need no server: URLs, discovery from the environment, batch
input tables, resuming and progress displays. (The client against a real server is in
tests/server/test_client.py.)"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from coder_agents_jupyter.client import batch
from coder_agents_jupyter.client.api import AgentsError, api_base, server_url
from coder_agents_jupyter.client.discover import discover
from coder_agents_jupyter.client.models import ChatInfo, Diff, Message, Usage


def test_urls() -> None:
    assert api_base("http://h:8888") == "http://h:8888/coder-agents/api/v1/"
    assert api_base("h:8888/base/") == "http://h:8888/base/coder-agents/api/v1/"
    assert api_base("http://h/x/coder-agents/api/v1") == "http://h/x/coder-agents/api/v1/"
    assert server_url("http://h/x/coder-agents/api/v1/") == "http://h/x/"
    err = AgentsError(409, "conflict", "The chat is not running.")
    assert str(err) == "The chat is not running. (HTTP 409, conflict)"
    assert err.message == "The chat is not running." and err.status == 409


def test_discover_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUPYTER_SERVER_URL", "http://127.0.0.1:8888/lab-base/")
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    monkeypatch.setenv("JUPYTER_TOKEN_FILE", str(token_file))
    found = discover()
    assert (found.url, found.token, found.source) == (
        "http://127.0.0.1:8888/lab-base/",
        "from-file",
        "JUPYTER_SERVER_URL",
    )
    monkeypatch.setenv("JUPYTER_TOKEN", "from-env")
    assert discover().token == "from-env"
    assert discover("http://other:1/", "explicit").token == "explicit"

    monkeypatch.delenv("JUPYTER_SERVER_URL")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:9999/user/ann/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    found = discover()
    assert (found.url, found.token) == ("http://127.0.0.1:9999/user/ann/", "hub-token")


def test_models_read_server_shapes() -> None:
    info = ChatInfo.model_validate(
        {
            "id": "c1",
            "status": "error",
            "error": {"kind": "provider", "message": "fake: prompt is too long"},
            "usage": {"input_tokens": 10, "output_tokens": 5, "cost_micros": 2500},
            "new_field": 1,
        }
    )
    assert info.done and info.error_message == "fake: prompt is too long"
    assert info.usage.total_tokens == 15 and info.usage.cost == 0.0025
    assert info.new_field == 1  # type: ignore[attr-defined]
    msg = Message.model_validate(
        {
            "id": 1,
            "seq": 2,
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        }
    )
    assert msg.text == "ab"
    assert Usage().cost is None
    diff = Diff.model_validate({"files": [{"path": "f", "diff": "--- a/f\n+++ b/f\n+x"}]})
    assert str(diff) == "--- a/f\n+++ b/f\n+x\n" and bool(diff)


def test_parse_rows_from_lists_and_tables() -> None:
    rows, name = batch.parse_rows(["one", {"prompt": "two", "model": "m", "other": 1}])
    assert [(r.index, r.prompt, r.options) for r in rows] == [
        (0, "one", {}),
        (1, "two", {"model": "m"}),
    ]
    assert name is None
    table = pd.DataFrame(
        {"prompt": ["a", "b"], "model": ["m1", None], "plan": [True, math.nan]},
        index=pd.Index([10, 20], name="case"),
    )
    rows, name = batch.parse_rows(table)
    assert name == "case"
    assert [(r.index, r.options) for r in rows] == [
        (10, {"model": "m1", "plan": True}),
        (20, {}),
    ]
    assert type(rows[0].index) is int  # numpy scalars become plain values
    rows, _ = batch.parse_rows(pd.Series(["x", "y"], index=["a", "b"]))
    assert [(r.index, r.prompt) for r in rows] == [("a", "x"), ("b", "y")]
    assert [r.prompt for r in batch.parse_rows("just one")[0]] == ["just one"]

    with pytest.raises(ValueError, match="'prompt' column"):
        batch.parse_rows(pd.DataFrame({"text": ["a"]}))
    with pytest.raises(ValueError, match="non-empty string"):
        batch.parse_rows(["ok", "  "])
    with pytest.raises(ValueError, match="has no prompt"):
        batch.parse_rows([{"model": "m"}])
    with pytest.raises(ValueError, match="unique index"):
        batch.parse_rows(pd.DataFrame({"prompt": ["a", "a"]}, index=[1, 1]))


def test_done_records_from_a_table_or_a_file(tmp_path: Path) -> None:
    previous = pd.DataFrame(
        {"prompt": ["a", "b", "c"], "status": ["done", "error", "done"], "answer": ["A", None, "C"]}
    )
    done = batch.done_records(previous)
    assert sorted(r["prompt"] for r in done.values()) == ["a", "c"]
    assert batch.row_key(0, "a") in done and batch.row_key(0, "b") not in done

    path = tmp_path / "run.jsonl"
    lines = [
        {"index": 0, "prompt": "a", "status": "error"},
        {"index": 0, "prompt": "a", "status": "done", "answer": "A"},  # a later run of row 0
        {"index": 1, "prompt": "b", "status": "done"},
        {"index": 1, "prompt": "b", "status": "stopped"},  # interrupted later: runs again
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"index": 2, "pro')
    done = batch.done_records(path)
    assert list(done) == [batch.row_key(0, "a")] and done[batch.row_key(0, "a")]["answer"] == "A"
    assert batch.done_records(tmp_path / "missing.jsonl") == {}
    path.write_text('not json\n{"index": 0}\n')
    with pytest.raises(ValueError, match="run.jsonl:1"):
        batch.done_records(path)


def test_progress_displays(monkeypatch: pytest.MonkeyPatch) -> None:
    snap = batch.Snapshot(total=20, done=5, failed=1, running=4, tokens=12345)
    assert snap.line() == "6/20 · 5 done · 4 running · 1 failed · 12,345 tokens"
    assert type(batch.make_progress(False, 3)) is batch.Progress

    out = io.StringIO()
    text = batch.TextProgress(out)
    text.update(snap)
    text.close(snap)
    assert out.getvalue() == "\rbatch: " + snap.line() + "\n"

    bar = batch.make_progress(True, 20)  # outside a notebook, tqdm is there
    assert isinstance(bar, batch.TqdmProgress)
    bar.update(snap)
    assert bar.bar.n == 6 and "running=4" in str(bar.bar) and "tokens=12345" in str(bar.bar)
    bar.close(snap)

    monkeypatch.setattr(batch, "_has", lambda module: False)  # neither tqdm nor ipywidgets
    assert isinstance(batch.make_progress(True, 20), batch.TextProgress)
    with pytest.raises(ValueError, match="progress must be"):
        batch.make_progress("fancy", 1)
