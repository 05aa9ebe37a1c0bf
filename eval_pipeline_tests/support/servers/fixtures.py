"""The one fixture shape of the test servers: a server started once per test module, on 127.0.0.1.

In: the fixture's name, a server class (``AnthropicTestServer``, ``OpenAITestServer``, ``BedrockTestServer``,
``SupportApp``, ``VendorsServer``) and its :class:`ServerConfig` fields (``api_key`` at least).
Out: a module-scoped pytest fixture that yields the running server and stops it after the module's tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from eval_pipeline_tests.support.servers.anthropic_server import ServerConfig


def module_server(name: str, server_class: type, **config: Any) -> Any:
    """``name = module_server("name", AnthropicTestServer, api_key=KEY)`` in a test module: the fixture ``name``."""

    @pytest.fixture(scope="module", name=name)
    def fixture() -> Iterator[Any]:
        srv = server_class(ServerConfig(**config)).start()
        yield srv
        srv.stop()

    return fixture
