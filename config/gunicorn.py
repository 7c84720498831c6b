"""gunicorn settings for Earshot (docker-compose and bench/queue.py use this file).

The app is loaded once in the master and its objects frozen out of the garbage collector
before the workers fork: Django's import-time objects then never get scanned by a worker's
full collections, which otherwise show up as occasional slow requests. Workers also collect
less often (see post_fork).
"""

import gc
import os
import sys

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
preload_app = True
accesslog = None
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def when_ready(server):  # noqa: ARG001 - gunicorn's hook signature
    # gunicorn runs no Django system checks: run Earshot's own (static files collected when
    # DEBUG is off, config/checks.py) so a missing collectstatic stops the start with what to
    # run, instead of a 500 on the first page. The app is preloaded: Django is set up.
    from django.core.checks import run_checks

    errors = [
        e for e in run_checks(tags=["earshot"], include_deployment_checks=True) if e.is_serious()
    ]
    for error in errors:
        server.log.error("%s", error)
    if errors:
        sys.exit(1)
    gc.freeze()


def post_fork(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    # A page allocates tens of thousands of short-lived objects (querysets, rows, strings):
    # with the default threshold (700) the young generation is collected many times per
    # request, and now and then a full collection lands inside one.
    gc.set_threshold(50_000, 20, 20)
