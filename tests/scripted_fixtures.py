"""Pytest fixtures around the scripted model server (imported by tests/conftest.py).

One server per test session (starting it is cheap, but one is enough); each test gets it
reset: empty script, default quirks, no recorded requests, pending hangs ended.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from scripted_model import ScriptedModelServer


@pytest.fixture(scope="session")
def scripted_server_session() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer().start()
    yield server
    server.stop()


@pytest.fixture
def scripted_model(scripted_server_session: ScriptedModelServer) -> Iterator[ScriptedModelServer]:
    """The scripted OpenAI-compatible server, reset for this test.

    ``scripted_model.set_script(text("hi"), run_code("1+1"))``; ``scripted_model.base_url``;
    ``scripted_model.requests`` (chat bodies sent); ``scripted_model.set_quirks(...)``.
    """
    scripted_server_session.reset()
    yield scripted_server_session
    scripted_server_session.reset()


@pytest.fixture
def scripted_config(scripted_model: ScriptedModelServer):
    """A ``CodeInterp`` pointed at the scripted server, with timeouts and waits made small."""
    from jupyterlab_codeinterp.config import CodeInterp
    from jupyterlab_codeinterp.llm.client import forget_endpoint_cache

    forget_endpoint_cache()
    cfg = CodeInterp(
        base_url=scripted_model.base_url,
        api_key="sk-test-SECRETKEY-0123456789",
        model="scripted-model",
        request_timeout=2.0,
        connect_timeout=1.0,
        max_retries=2,
        max_retry_wait=0.2,
    )
    yield cfg
    forget_endpoint_cache()


@pytest.fixture
async def model_client(scripted_config):
    """A ``ModelClient`` on ``scripted_config``, closed after the test."""
    from jupyterlab_codeinterp.llm.client import ModelClient

    client = ModelClient(scripted_config)
    yield client
    await client.close()
