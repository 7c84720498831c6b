"""Shared fixtures. Tests run on real PostgreSQL when reachable (see dev.py test)."""

import pytest

from tests.feedserver import LocalFeedServer


@pytest.fixture
def feed_server(settings):
    """A real threaded HTTP server on 127.0.0.1 that fetching is allowed to reach."""
    server = LocalFeedServer()
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{server.port}"]
    try:
        yield server
    finally:
        server.close()
