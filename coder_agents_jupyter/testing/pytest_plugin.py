"""pytest fixtures for the fake LLM vendor and a real sshd.

Enable with ``-p coder_agents_jupyter.testing.pytest_plugin`` (or ``pytest_plugins`` in the root
conftest). One server serves the whole session; ``fake_llm`` hands it to a test freshly reset.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_provider import FakeLLM
from .sshd import Sshd


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLM]:
    """The started session server: Anthropic at ``.base_url``, OpenAI at ``.openai_base_url``."""
    fake = FakeLLM()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM) -> FakeLLM:
    """The session server with no scripts and no recorded requests."""
    fake_llm_server.reset()
    return fake_llm_server


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH server on a free loopback port for the whole session (see ``Sshd``).

    Logins are for the user running the tests, so the remote files are this machine's files.
    """
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
