"""The OpenAPI document cannot drift from the routes the server serves."""

import re


def test_openapi_documents_every_route() -> None:
    from coder_agents_jupyter.api.handlers import PREFIX, routes
    from coder_agents_jupyter.api.openapi import openapi_document

    documented = {re.sub(r"\{[^}]+\}", "*", p) for p in openapi_document("x")["paths"]}
    served = {re.sub(r"\([^)]*\)", "*", pattern.removeprefix(PREFIX)) for pattern, _ in routes()}
    assert served == documented
