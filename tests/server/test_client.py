"""The Python client (``from coder_agents_jupyter import Agents``) against a real server.

One ``jupyter server`` process serves the module; the fake vendor's scripts are reset per test.
The client finds the server the way a notebook's kernel does: from the environment, or from
Jupyter's runtime files.
"""

from __future__ import annotations

import _thread
import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coder_agents_jupyter import Agents, AgentsError
from coder_agents_jupyter.client import Chat, Model, ServerNotFound
from coder_agents_jupyter.client import magic as agent_magic
from coder_agents_jupyter.testing import reply, stall, text, tool_call
from coder_agents_jupyter.testing.fake_provider import FakeLLM, http_error
from coder_agents_jupyter.testing.jupyter import JupyterProcess

PRICES = {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLM
) -> Iterator[JupyterProcess]:
    folder = tmp_path_factory.mktemp("client")
    srv = JupyterProcess(
        folder,
        {
            "providers": [
                {
                    "name": "fake",
                    "type": "anthropic",
                    "base_url": fake_llm_server.base_url,
                    "api_key_env": "FAKE_KEY",
                }
            ],
            "models": [
                {"id": "fake-model", "provider": "fake", "default": True, "prices": PRICES},
                {"id": "other-model", "provider": "fake"},
            ],
            "limits": {"heartbeat_seconds": 0.5, "max_concurrent_chats": 8},
            "templates": [
                {
                    "name": "scratch",
                    "description": "An empty local folder",
                    "provisioner": {
                        "type": "local",
                        "base_dir": str(folder / "scratch"),
                        "init": ["echo {label} > LABEL"],
                    },
                    "parameters": [{"name": "label", "type": "string", "default": "none"}],
                }
            ],
        },
        env={"FAKE_KEY": "sk-client"},
    )
    srv.start()
    yield srv
    srv.stop()


def root_url(server: JupyterProcess) -> str:
    return server.url.removesuffix("coder-agents/api/v1")


@pytest.fixture
def env(server: JupyterProcess, monkeypatch: pytest.MonkeyPatch) -> JupyterProcess:
    """The environment of a kernel started by that server."""
    monkeypatch.setenv("JUPYTER_SERVER_URL", root_url(server))
    monkeypatch.setenv("JUPYTER_TOKEN", server.token)
    return server


@pytest.fixture
def agents(env: JupyterProcess) -> Iterator[Agents]:
    client = Agents(poll_max=0.2)
    yield client
    client.close()


def statuses(server: JupyterProcess) -> dict[str, str]:
    return {c["id"]: c["status"] for c in server.get("chats?limit=500")}


# ----- finding the server -----


def test_finds_the_server_from_the_environment(agents: Agents, env: JupyterProcess) -> None:
    assert agents.found_by == "JUPYTER_SERVER_URL"
    assert agents.url == root_url(env)
    models = agents.models()
    assert all(isinstance(m, Model) for m in models)
    assert [(m.id, m.default) for m in models] == [("fake-model", True), ("other-model", False)]
    assert models[0].prices == PRICES


def test_finds_the_server_from_runtime_files(
    server: JupyterProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("JUPYTER_SERVER_URL", "JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("JUPYTERHUB_SERVICE_URL", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(ServerNotFound) as missing:
        Agents()
    assert "JUPYTER_SERVER_URL" in missing.value.message and str(tmp_path) in missing.value.message

    assert server.proc is not None
    port = int(root_url(server).rsplit(":", 1)[1].strip("/"))
    info = {"url": root_url(server), "token": server.token, "port": port, "base_url": "/"}
    # A dead server's file, and a newer live one that does not answer, are passed over
    (tmp_path / "jpserver-1.json").write_text(json.dumps({**info, "pid": 999_999_999}))
    (tmp_path / "jpserver-2.json").write_text(json.dumps({**info, "pid": server.proc.pid}))
    time.sleep(0.05)
    wrong = {**info, "url": "http://127.0.0.1:9/", "port": 9, "pid": os.getpid()}
    (tmp_path / "jpserver-3.json").write_text(json.dumps(wrong))

    found = Agents()
    assert found.url == root_url(server)
    assert found.found_by == f"runtime file of pid {server.proc.pid}"
    assert found.models()[0].id == "fake-model"
    # An explicit URL takes the token of the runtime file naming that server
    assert Agents(root_url(server)).models()[0].id == "fake-model"


# ----- chats -----


def test_chat_wait_result_messages_usage(agents: Agents, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "hello",
        [
            reply(text("Let me look."), tool_call("execute", {"command": "echo hi"})),
            reply(text("Hello from the agent.")),
            reply(text("Second answer.")),
        ],
    )
    chat = agents.chat("Say hello #hello")
    assert isinstance(chat, Chat) and chat.status in ("pending", "running", "waiting")
    assert chat.wait(timeout=30) is chat
    assert chat.status == "waiting" and chat.error is None
    assert chat.result == "Hello from the agent."
    assert [m.role for m in chat.messages] == ["user", "assistant", "tool", "assistant"]
    assert chat.messages[1].tool_calls[0]["name"] == "execute"
    assert chat.usage.output_tokens > 0 and chat.cost is not None and chat.cost > 0
    assert not chat.diff.files  # nothing written
    assert "Hello from the agent." in chat._repr_markdown_()

    assert chat.send("Again").wait().result == "Second answer."
    assert len(chat.messages) == 6
    assert agents.get_chat(chat.id).result == "Second answer."
    assert chat.id in [c.id for c in agents.chats()]


def test_chat_diff_of_written_files(agents: Agents, fake_llm: FakeLLM, env: JupyterProcess) -> None:
    fake_llm.script(
        "write",
        [
            reply(tool_call("write_file", {"path": "notes.txt", "content": "one\ntwo\n"})),
            reply(text("Wrote it.")),
        ],
    )
    chat = agents.chat("Write notes #write").wait()
    assert (env.root / "notes.txt").read_text() == "one\ntwo\n"
    diff = chat.diff
    assert [f.path for f in diff.files] == ["notes.txt"]
    assert "+one" in str(diff) and "```diff" in diff._repr_markdown_()


def test_server_errors_raise_with_the_servers_message(
    agents: Agents, fake_llm: FakeLLM, env: JupyterProcess
) -> None:
    with pytest.raises(AgentsError) as bad_model:
        agents.chat("hi", model="no-such-model")
    assert bad_model.value.status == 400
    body = env.request("POST", "chats", {"prompt": "hi", "model": "no-such-model"}).json()
    assert bad_model.value.message == body["error"]["message"]
    assert bad_model.value.code == body["error"]["code"]
    assert bad_model.value.message in str(bad_model.value)

    with pytest.raises(AgentsError) as missing:
        agents.get_chat("no-such-chat")
    assert missing.value.status == 404 and missing.value.code == "not_found"

    with pytest.raises(AgentsError) as no_workspace:
        agents.chat("hi", workspace="no-such-workspace")
    assert no_workspace.value.status == 404 and "no-such-workspace" in no_workspace.value.message

    fake_llm.script("broken", [reply(fault=http_error(400, "prompt is too long"))])
    chat = agents.chat("Break #broken").wait()
    assert chat.status == "error" and "prompt is too long" in (chat.error or "")
    with pytest.raises(AgentsError) as conflict:
        chat.stop()  # nothing is running
    assert conflict.value.status == 409 and conflict.value.message

    with pytest.raises(AgentsError) as refused:
        Agents(root_url(env), "wrong-token").models()
    assert refused.value.status == 403


def test_interrupting_wait_stops_the_chat(agents: Agents, fake_llm: FakeLLM) -> None:
    fake_llm.script("slow", [reply(text("Thinking"), fault=stall(60, after=1))])
    chat = agents.chat("Take your time #slow")
    with pytest.raises(TimeoutError):
        chat.wait(timeout=1)
    threading.Timer(0.3, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        chat.wait()
    assert chat.refresh().status == "paused"


@pytest.mark.asyncio
async def test_async_forms(agents: Agents, fake_llm: FakeLLM) -> None:
    fake_llm.script("async", [reply(text("Async answer."))])
    models = await agents.models_async()
    assert models[0].id == "fake-model"
    chat = await agents.chat_async("Hi #async", model="other-model")
    await chat.wait_async(timeout=30)
    assert await chat.result_async() == "Async answer."
    assert chat.model == "other-model"
    with pytest.raises(AgentsError) as missing:
        await agents.get_chat_async("nope")
    assert missing.value.status == 404


# ----- batches -----


def twenty_prompts() -> list[str]:
    return [f"Question {i} #{'fail' if i == 13 else 'ok'}" for i in range(20)]


def script_batch(fake_llm: FakeLLM, *, failing: bool = True) -> None:
    fake_llm.script("ok", lambda body: reply(text("Answer to " + _first_words(body))))
    fake_llm.script(
        "fail",
        [reply(fault=http_error(400, "prompt is too long"))]
        if failing
        else [reply(text("Answer after all"))],
    )


def _first_words(body: dict[str, Any]) -> str:
    from coder_agents_jupyter.testing.fake_provider import first_user_text

    return " ".join(first_user_text(body).split()[:2])


def test_batch_of_20_with_one_failure(
    agents: Agents, fake_llm: FakeLLM, env: JupyterProcess
) -> None:
    script_batch(fake_llm)
    table = agents.batch(twenty_prompts(), concurrency=4, progress=False)
    assert list(table.index) == list(range(20))
    assert table["status"].value_counts().to_dict() == {"done": 19, "error": 1}
    failed = table.loc[13]
    assert failed["status"] == "error" and "prompt is too long" in failed["error"]
    done = table[table["status"] == "done"]
    assert all(done["answer"] == [f"Answer to Question {i}" for i in done.index])
    assert done["error"].isna().all()
    assert (done["output_tokens"] > 0).all() and (done["cost"] > 0).all()
    assert (table["duration_s"] > 0).all()
    assert table["chat_id"].nunique() == 20
    assert {statuses(env)[c] for c in table["chat_id"]} == {"waiting", "error"}
    assert agents.last_batch is table


def test_batch_concurrency_is_bounded(agents: Agents, fake_llm: FakeLLM) -> None:
    seen: list[int] = []
    lock = threading.Lock()
    inflight = [0]

    def slow(body: dict[str, Any]) -> Any:
        with lock:
            inflight[0] += 1
            seen.append(inflight[0])
        time.sleep(0.2)
        with lock:
            inflight[0] -= 1
        return reply(text("ok"))

    fake_llm.script("ok", slow)
    rows = agents.batch([f"P{i} #ok" for i in range(8)], concurrency=3, progress=False)
    assert (rows["status"] == "done").all()
    assert max(seen) <= 3 and max(seen) >= 2


def test_batch_resume_skips_rows_already_done(
    agents: Agents, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    script_batch(fake_llm)
    checkpoint = tmp_path / "batch.jsonl"
    first = agents.batch(twenty_prompts(), concurrency=4, progress=False, resume=checkpoint)
    assert (first["status"] == "done").sum() == 19
    assert len(checkpoint.read_text().splitlines()) == 20

    # The provider is fixed; only the failed row runs again (from the file or the table)
    fake_llm.reset()
    script_batch(fake_llm, failing=False)
    again = agents.batch(twenty_prompts(), concurrency=4, progress=False, resume=checkpoint)
    assert (again["status"] == "done").all()
    assert again.loc[13, "answer"] == "Answer after all"
    assert len(fake_llm.requests) == 1
    assert list(again.drop(index=13)["chat_id"]) == list(first.drop(index=13)["chat_id"])

    fake_llm.reset()
    from_table = agents.batch(twenty_prompts(), progress=False, resume=again)
    assert (from_table["status"] == "done").all() and fake_llm.requests == []


def test_batch_table_with_per_row_options_and_records_without_pandas(
    agents: Agents, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    script_batch(fake_llm)
    table = pd.DataFrame(
        {
            "prompt": ["Alpha #ok", "Beta #ok", "Gamma #ok"],
            "model": [None, "other-model", "no-such-model"],
        },
        index=pd.Index(["a", "b", "c"], name="case"),
    )
    out = agents.batch(table, model="fake-model", progress="text")
    assert out.index.name == "case" and list(out.index) == ["a", "b", "c"]
    assert list(out["status"]) == ["done", "done", "error"]
    assert list(out["model"][:2]) == ["fake-model", "other-model"]
    assert "no-such-model" in out.loc["c", "error"]

    monkeypatch.setitem(__import__("sys").modules, "pandas", None)  # as if not installed
    records = agents.batch([{"prompt": "Delta #ok"}, "Epsilon #ok"], progress=False)
    assert isinstance(records, list) and [r["status"] for r in records] == ["done", "done"]
    assert records[1]["answer"] == "Answer to Epsilon #ok" and records[1]["index"] == 1


def test_batch_in_fresh_workspaces_from_a_template(agents: Agents, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "tpl",
        lambda body: (
            reply(text("Read it."))
            if "LABEL" in json.dumps(body.get("messages", [])[1:])
            else reply(tool_call("read_file", {"path": "LABEL"}))
        ),
    )
    rows = [
        {"prompt": "Read LABEL #tpl", "parameters": {"label": "alpha"}},
        {"prompt": "Read LABEL again #tpl", "parameters": {"label": "beta"}},
        {"prompt": "And once more #tpl", "template": "no-such-template"},
    ]
    out = agents.batch(rows, template="scratch", progress=False)
    assert list(out["status"]) == ["done", "done", "error"]
    assert "no-such-template" in out.loc[2, "error"]
    first, second = (agents.workspace(w) for w in out["workspace_id"][:2])
    assert first.id != second.id and first.template == second.template == "scratch"
    assert Path(first.path, "LABEL").read_text() == "alpha\n"
    assert Path(second.path, "LABEL").read_text() == "beta\n"
    assert "alpha" in json.dumps([m.content for m in agents.get_chat(out["chat_id"][0]).messages])


def test_interrupting_a_batch_stops_its_chats(
    agents: Agents, fake_llm: FakeLLM, env: JupyterProcess
) -> None:
    fake_llm.script("slow", [reply(text("Working"), fault=stall(60, after=1))])
    before = set(statuses(env))

    def interrupt_when_running() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            running = [s for c, s in statuses(env).items() if c not in before and s == "running"]
            if len(running) == 3:
                break
            time.sleep(0.05)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_running, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        agents.batch([f"Slow {i} #slow" for i in range(5)], concurrency=3, progress=False)
    # The stops were requested before the interrupt returned; each lands as its run ends.
    deadline = time.monotonic() + 15
    while True:
        started = {c: s for c, s in statuses(env).items() if c not in before}
        if set(started.values()) == {"paused"} or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(started) == 3 and set(started.values()) == {"paused"}
    partial = agents.last_batch
    assert list(partial["status"]) == ["stopped"] * 3 + ["not_run"] * 2


@pytest.mark.asyncio
async def test_batch_async(agents: Agents, fake_llm: FakeLLM) -> None:
    script_batch(fake_llm)
    out = await agents.batch_async(twenty_prompts()[10:15], concurrency=2, progress=False)
    assert list(out["status"]) == ["done", "done", "done", "error", "done"]


@pytest.mark.asyncio
async def test_cancelling_an_async_batch_stops_its_chats(
    agents: Agents, fake_llm: FakeLLM, env: JupyterProcess
) -> None:
    fake_llm.script("slow", [reply(text("Working"), fault=stall(60, after=1))])
    before = set(statuses(env))
    task = asyncio.ensure_future(
        agents.batch_async([f"Slow async {i} #slow" for i in range(2)], progress=False)
    )
    for _ in range(200):
        await asyncio.sleep(0.05)
        now = await asyncio.to_thread(statuses, env)
        if [s for c, s in now.items() if c not in before and s == "running"] == ["running"] * 2:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # stop is asynchronous on the server (202): the turns end within moments
    deadline = time.monotonic() + 15
    while True:
        now = await asyncio.to_thread(statuses, env)
        started = {c: s for c, s in now.items() if c not in before}
        if set(started.values()) == {"paused"} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert len(started) == 2 and set(started.values()) == {"paused"}


# ----- the %%agent magic -----


@pytest.fixture
def shell(agents: Agents) -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "coder_agents_jupyter")
    agent_magic.use(None)  # found from the environment, as in a kernel
    yield ip
    agent_magic.use(None)


def test_agent_magic(shell: Any, fake_llm: FakeLLM, env: JupyterProcess) -> None:
    from IPython.utils.capture import capture_output

    fake_llm.script("magic", [reply(text("The **answer**.")), reply(text("Plan: do less."))])
    answer = shell.run_cell_magic("agent", "--quiet --model other-model", "What is it? #magic")
    assert answer == "The **answer**." and answer._repr_markdown_() == "The **answer**."
    chat = agent_magic.last_chat
    assert chat is not None and chat.refresh().model == "other-model"

    with capture_output() as shown:
        out = shell.run_cell_magic("agent", "--chat last --plan", "Now plan it")
    assert out is None
    assert agent_magic.last_chat is not None and agent_magic.last_chat.id == chat.id
    # Shown at once, then updated with the answer when the chat is done
    assert chat.id in shown.outputs[0].data["text/markdown"]
    assert "Plan: do less." in shown.outputs[-1].data["text/markdown"]
    assert env.get(f"chats/{chat.id}")["plan_mode"] is True

    fake_llm.script("magicfail", [reply(fault=http_error(400, "prompt is too long"))])
    with pytest.raises(AgentsError, match="prompt is too long"):
        shell.run_cell_magic("agent", "-q", "Fail #magicfail")
    from IPython.core.error import UsageError

    with pytest.raises(UsageError):
        shell.run_cell_magic("agent", "", "   ")
