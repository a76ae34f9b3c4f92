"""Admin settings: validated once, bad keys named, missing keys reported, not fatal."""

from __future__ import annotations

import pytest

from coder_agents_jupyter.errors import ConfigError
from coder_agents_jupyter.settings import build_settings

PROMPT = "be helpful"


def build(providers, models, environ=None, **kw):  # type: ignore[no-untyped-def]
    return build_settings(
        providers=providers,
        models=models,
        system_prompt=PROMPT,
        admin_users=[],
        environ=environ or {},
        **kw,
    )


def test_valid_config_resolves_keys_and_default() -> None:
    s = build(
        [{"name": "a", "type": "anthropic", "api_key_env": "MY_KEY"}],
        [{"id": "m1", "provider": "a"}, {"id": "m2", "provider": "a", "default": True}],
        {"MY_KEY": "secret"},
    )
    assert s.default_model().id == "m2"  # type: ignore[union-attr]
    assert [m.id for m in s.available_models()] == ["m1", "m2"]
    assert s.secrets == {"a": "secret"}
    assert "secret" not in repr(s)
    assert "MY_KEY" in s.secret_env_names()


@pytest.mark.parametrize(
    ("providers", "models", "key", "words"),
    [
        ([{"name": "x", "type": "cohere"}], [], "providers[0].type", "anthropic"),
        (
            [{"name": "x", "type": "anthropic"}],
            [{"id": "m", "provider": "y"}],
            "models[0].provider",
            "'y'",
        ),
        (
            [{"name": "x", "type": "anthropic"}],
            [
                {"id": "m", "provider": "x", "default": True},
                {"id": "n", "provider": "x", "default": True},
            ],
            "models",
            "more than one default",
        ),
        (
            [{"name": "x", "type": "anthropic"}, {"name": "x", "type": "openai"}],
            [],
            "providers",
            "two providers",
        ),
        (
            [{"name": "x", "type": "anthropic"}],
            [{"id": "m", "provider": "x", "context_window": 0}],
            "models[0].context_window",
            "greater than 0",
        ),
        (
            [{"name": "x", "type": "anthropic", "api_key": "sk-literal"}],
            [],
            "providers[0].api_key",
            "not permitted",
        ),
    ],
)
def test_bad_config_names_the_key(providers, models, key, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as exc:
        build(providers, models)
    assert exc.value.key == key
    assert str(exc.value).startswith(f"c.CoderAgents.{key}: ")
    assert words in str(exc.value)


def test_missing_key_makes_provider_unavailable_not_fatal() -> None:
    s = build(
        [{"name": "a", "type": "anthropic"}, {"name": "o", "type": "openai"}],
        [{"id": "claude", "provider": "a"}, {"id": "gpt", "provider": "o"}],
        {"OPENAI_API_KEY": "k"},
    )
    status = {p.name: p for p in s.provider_status()}
    assert status["a"].available is False
    assert status["a"].reason == "the environment variable ANTHROPIC_API_KEY is not set"
    assert status["o"].available is True
    assert [m.id for m in s.available_models()] == ["gpt"]
    assert s.model("claude") is None


def test_providers_derived_from_environment() -> None:
    s = build([], [], {"ANTHROPIC_API_KEY": "k1", "OPENAI_API_KEY": "k2"})
    assert [p.name for p in s.providers] == ["anthropic", "openai"]
    assert s.default_model().provider == "anthropic"  # type: ignore[union-attr]
    assert build([], [], {}).default_model() is None


def test_key_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "key"
    key.write_text("file-secret\n")
    s = build(
        [{"name": "a", "type": "anthropic", "api_key_file": str(key)}],
        [{"id": "m", "provider": "a"}],
    )
    assert s.secrets["a"] == "file-secret"
    s = build(
        [{"name": "a", "type": "anthropic", "api_key_file": str(tmp_path / "nope")}],
        [{"id": "m", "provider": "a"}],
    )
    assert "cannot be read" in (s.provider_status()[0].reason or "")
