"""Fixtures of the reliability tests: graphsim over HTTPS (the session's server from the
Microsoft 365 tests), a private Redis, and real Celery worker processes that share the
test database with the test itself. Nothing touches the machine's shared services."""

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.m365bridge.conftest import graphsim_server, m365, stratus_app  # noqa: F401
from tests.support.broker import celery_broker
from tests.support.processes import ProcessSet, database_url, stratus_env


@pytest.fixture
def procs():
    with ProcessSet() as processes:
        yield processes


@pytest.fixture
def private_redis(procs):
    return procs.redis()


@pytest.fixture
def stack(transactional_db, settings, m365, stratus_app, procs, private_redis):  # noqa: F811
    """This process and its workers on one private Redis (broker and write budget) and
    on the test database (committed data: tests using it are transactional)."""
    settings.REDIS_URL = private_redis.url()
    settings.CELERY_BROKER_URL = private_redis.url()
    env = stratus_env(
        database_url=database_url(connection.settings_dict),
        redis_url=private_redis.url(),
        sim=m365,
        app=stratus_app,
        encryption_keys=django_settings.FIELD_ENCRYPTION_KEYS,
    )
    with celery_broker(private_redis.url()) as app:
        yield Stack(
            procs=procs, redis=private_redis, env=env, sim=m365, app=stratus_app, celery=app
        )


class Stack:
    def __init__(self, *, procs, redis, env, sim, app, celery):
        self.procs, self.redis, self.env = procs, redis, env
        self.sim, self.app, self.celery = sim, app, celery

    def worker(self, **kwargs):
        return self.procs.worker(self.env, **kwargs)
