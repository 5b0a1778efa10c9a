"""A change is sent to a worker as soon as it commits (P1: "appears within seconds"),
from any process, not only found later by the sweep (30 s beat + 20 s grace)."""

import subprocess
import sys

import pytest
import redis

from tests.support.processes import ROOT, stratus_env

pytestmark = pytest.mark.slow

WEB_PROCESS = """
import django
django.setup()
from m365bridge.sync.intent import sync_send
sync_send(tenant_id=424242)
"""


def test_a_web_process_queues_the_sync_task_after_a_change(private_redis):
    """A web process (gunicorn, runserver) never imports `workers.tasks`: Celery imports
    the task modules only in workers. The task must still be sent, by name."""
    env = stratus_env(
        database_url="sqlite:///:memory:",
        redis_url=private_redis.url(),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    done = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    queued = redis.Redis.from_url(private_redis.url()).llen("celery")
    assert queued == 1, f"nothing queued; the process said: {done.stderr.strip()[-300:]}"
