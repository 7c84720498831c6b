"""The demo as a user gets it after `dev.py run`, for the tests that read the dashboard.

load_demo serves its feeds and stand-in APIs from this Earshot; the worker fetches them,
routes the mentions into cases and, every 20 s, files the cases from before loading as
history and, once, gives the routed cases tracked links with clicks and sales
(demo.tasks.demo_history_file_task). Here the same steps run in process against a
live server, once per test module (about ten seconds), and the rows are committed so the
server's thread sees them too; the module's tests only read them and are plain
``django_db`` tests.

The server is pytest-django's LiveServer started here rather than the ``live_server``
fixture: a test that uses that fixture gets a transactional database, flushed after the test,
which would empty the demo after the module's first test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from pytest_django.live_server_helper import LiveServer

from brands.models import Brand, Membership
from demo import content
from demo.roi import demo_tracking_set_up
from demo.services import demo_history_file_all
from tests.brands.conftest import make_user


@dataclass(frozen=True)
class LoadedDemo:
    brand: Brand  # the demo's main brand
    url: str  # the live server's root, which serves the demo and the dashboard


@pytest.fixture(scope="module")
def demo_loaded(django_db_setup, django_db_blocker) -> Iterator[LoadedDemo]:
    """The demo loaded, fetched, routed and its history filed, and the server it came from."""
    name = str(connection.settings_dict["NAME"])
    if "test" not in name:
        # pytest-django sets the test database up only for a session with tests that ask
        # for it (a django_db mark or the db fixture); without one this would be the real
        # database, and the flush below would empty it.
        pytest.fail(f"demo_loaded needs the test database, not {name!r}: mark the tests django_db")
    with django_db_blocker.unblock():
        server = LiveServer("127.0.0.1:0")
        allowed = [urlsplit(server.url).netloc]
        try:
            with (
                server._live_server_modified_settings,
                # A demo instance: load_demo makes the 'demo' user, who makes its links.
                override_settings(EARSHOT_ALLOWED_PRIVATE_HOSTS=allowed, EARSHOT_DEMO=True),
            ):
                quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
                call_command("load_demo", "--base-url", server.url, "--fetch", **quiet)
                call_command("route_cases", **quiet)
                # What the demo's beat task does once the cases are routed.
                demo_history_file_all(brand_name=content.ACME.name)
                brand = Brand.objects.get(name=content.ACME.name)
                demo_tracking_set_up(brand=brand)
                yield LoadedDemo(brand, server.url)
        finally:
            server.stop()
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def demo_marketer(demo_loaded, django_db_blocker):
    """A marketer of the demo brand (password tests.brands.conftest.PASSWORD), committed
    like the demo and removed with it."""
    with django_db_blocker.unblock():
        return make_user("mia", demo_loaded.brand, Membership.Role.MARKETER)
