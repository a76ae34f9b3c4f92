"""pytest plugins for every suite (pytest honours ``pytest_plugins`` only here)."""

pytest_plugins = [
    "pytest_jupyter.jupyter_server",
    "coder_agents_jupyter.testing.pytest_plugin",
]
