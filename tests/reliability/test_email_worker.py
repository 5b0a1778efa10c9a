"""Emails through real processes: a Celery worker process sends what the web side
queued after commit, and an email whose task the broker lost is sent once the sweep
finds it. The worker's mail goes to files in a folder the test reads."""

from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from directory import emails
from directory.models import SentEmail
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LINK_PART = "/portal/reset/"


@pytest.fixture
def mail_folder(stack, settings, tmp_path) -> Path:
    settings.EMAIL_DELIVERY = "worker"
    stack.env.update(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(tmp_path),
        EMAIL_DELIVERY="worker",
    )
    return tmp_path


def delivered(folder: Path) -> list[str]:
    return [path.read_text() for path in sorted(folder.glob("*.log"))]


def sent(record: SentEmail, stack) -> SentEmail:
    return wait_for(
        lambda: SentEmail.objects.filter(pk=record.pk, sent_at__isnull=False).first(),
        timeout=30,
        what="the worker to send the email",
        describe=stack.procs.logs,
    )


def test_a_worker_process_sends_the_email_the_request_queued(stack, mail_folder, alice, bob):
    stack.worker()

    record = emails.password_reset_send(actor=alice, user=bob)  # commits: queued now

    done = sent(record, stack)
    assert done.payload == "" and done.attempts == 1
    [message] = delivered(mail_folder)
    assert f"To: {bob.email}" in message and LINK_PART in message


def test_an_email_whose_task_the_broker_lost_is_sent_after_the_sweep(
    stack, mail_folder, alice, bob
):
    record = emails.password_reset_send(actor=alice, user=bob)  # no worker yet
    redis.Redis.from_url(stack.redis.url()).flushdb()  # the broker forgets the task
    stack.worker()
    SentEmail.objects.filter(pk=record.pk).update(due_at=timezone.now() - timedelta(minutes=1))

    stack.celery.send_task("workers.tasks.email_sweep")  # what beat sends every minute

    sent(record, stack)
    assert len(delivered(mail_folder)) == 1
