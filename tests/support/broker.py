"""Point this process's Celery app (the one `directory.services` sends tasks with after
commit) at a private broker for the length of a test, then back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def _forget_connections(app) -> None:
    # The same reset Celery does after a fork: the next send opens a connection to the
    # broker now configured instead of reusing a pooled one to the old broker.
    app._pool = None
    try:
        app.__dict__["amqp"]._producer_pool = None
    except (AttributeError, KeyError):
        pass


@contextmanager
def celery_broker(url: str) -> Iterator[object]:
    """Send this process's tasks to `url` (publish retry policy left as configured)."""
    from config.celery import app

    saved = {
        key: app.conf.get(key)
        for key in ("broker_url", "broker_write_url", "broker_read_url", "task_always_eager")
    }
    app.conf.broker_url = url
    app.conf.broker_write_url = None
    app.conf.broker_read_url = None
    app.conf.task_always_eager = False
    _forget_connections(app)
    try:
        yield app
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        _forget_connections(app)
        for key, value in saved.items():
            app.conf[key] = value
