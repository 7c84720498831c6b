"""Shared fixtures. Tests run on real PostgreSQL and Redis when reachable (see dev.py test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.feedserver import LocalFeedServer

# Chromium fixtures (browser, page, viewport) for the page tests.
pytest_plugins = ["tests.browser"]

# The real-world corpora and recorded API answers are not in the repository: CI clones them
# beside it (/work/main -> /work/shared/data). EARSHOT_SHARED_DATA points elsewhere.
SHARED_DATA_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_dir() -> Path:
    """Where the shared data should be: $EARSHOT_SHARED_DATA, else ../shared/data."""
    configured = os.environ.get("EARSHOT_SHARED_DATA", "").strip()
    return Path(configured).expanduser().resolve() if configured else SHARED_DATA_DEFAULT


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; the only place a test learns where it is.

    Missing, a test that needs it skips on a newcomer's machine, and is an error under
    CI=true: 81 tests once skipped quietly in CI when the folder was not cloned.
    """
    path = shared_data_dir()
    if not path.is_dir():
        where = f"shared data not found at {path} (set EARSHOT_SHARED_DATA or clone it there)"
        if is_ci():
            pytest.fail(f"CI=true: {where}; tests that need it do not skip in CI", pytrace=False)
        pytest.skip(where)
    return path


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


@pytest.fixture(autouse=True)
def _cache_cleared():
    """Each test starts with an empty Django cache: the dashboard keys cached figures by
    brand id and rollup generation, which a rolled-back test database hands out again."""
    from django.core.cache import cache

    cache.clear()
    yield
