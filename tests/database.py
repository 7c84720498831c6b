"""The test database as other processes and migration tests need it."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def database_url() -> str:
    """The test database as a URL, for a worker or web process to share it."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user = db["USER"] or "postgres"
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def migrate(targets):
    """Migrate the test database to targets; return the apps registry of that state.

    A target (app, None) unapplies every migration of that app, as `migrate app zero` does.
    """
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def migrate_to_latest() -> None:
    """Back to the newest schema, for the tests after a migration test."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
