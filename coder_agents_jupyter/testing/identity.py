"""A small multi-user identity provider for tests: ``Authorization: token user-<name>``
authenticates as ``<name>``. Real deployments get users from JupyterHub or their own IdP."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User


class TokenUsers(IdentityProvider):
    def get_user(self, handler: Any) -> User | None:  # type: ignore[override]
        auth = handler.request.headers.get("Authorization", "")
        token = auth.removeprefix("token ").strip() or handler.get_argument("token", "")
        if token.startswith("user-"):
            name = token.removeprefix("user-")
            handler._token_authenticated = True  # like Jupyter's own tokens: no XSRF check
            return User(username=name, name=name)
        return None
