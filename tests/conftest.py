"""Shared fixtures. Tests run on real PostgreSQL and Redis when reachable (see dev.py test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.feedserver import LocalFeedServer

# Chromium fixtures (browser, page, viewport) for the page tests.
pytest_plugins = ["tests.browser"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real outside data beside the repository (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def feed_server(settings):
    """A real threaded HTTP server on 127.0.0.1 that fetching is allowed to reach."""
    server = LocalFeedServer()
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{server.port}"]
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def recorded_posts(shared_data: Path) -> dict:
    """Real Bluesky postViews recorded from the API, by at:// uri (see tests/bluesky_server)."""
    from tests import bluesky_server

    return bluesky_server.recorded_posts(shared_data)


@pytest.fixture
def pds(settings, recorded_posts):
    """A real local XRPC server doing what a Bluesky PDS does for replies."""
    from tests import bluesky_server

    with bluesky_server.serve_pds(settings, recorded_posts) as server:
        yield server


def pytest_report_header(config):
    backend = os.environ.get("EARSHOT_TEST_BACKEND", "as configured")
    broker = os.environ.get("EARSHOT_TEST_BROKER", "as configured")
    return f"earshot: database={backend} broker={broker}"
