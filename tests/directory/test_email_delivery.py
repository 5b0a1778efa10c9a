"""Emails leave from a Celery worker (EMAIL_DELIVERY = "worker"), not from the request:
queued by task name after commit, kept encrypted until sent, retried with backoff while
the mail server fails, and re-queued by the sweep when their task was lost."""

import json
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directory import emails, encryption
from directory.errors import InvalidInput
from directory.models import SentEmail
from tests.support.broker import celery_broker
from workers import tasks

LINK_PART = "/portal/reset/"


@pytest.fixture(autouse=True)
def _worker_delivery(settings):
    settings.EMAIL_DELIVERY = "worker"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def broker():
    """An in-memory broker holding what this test queued and nothing else (kombu's memory
    transport is one per process: drained before and after). Its own URL each time,
    since kombu keeps a closed producer pool per broker URL."""
    with celery_broker(f"memory://localhost/{uuid.uuid4().hex}") as app:
        queued_tasks(app)
        yield app
        queued_tasks(app)


def queued_tasks(app) -> list[tuple[str, list]]:
    found = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("celery")
        try:
            while True:
                message = queue.get(timeout=0.2)
                found.append((message.headers["task"], message.payload[0]))
                message.ack()
        except queue.Empty:
            pass
        finally:
            queue.close()
    return found


@pytest.fixture
def failing_smtp(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there


@contextmanager
def silent_smtp_server():
    """An SMTP server that accepts connections and never answers: a hung mail server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        for connection, _ in accepted:
            connection.close()
        server.close()


def reset_sent(alice, bob, capture) -> SentEmail:
    with capture(execute=True):
        emails.password_reset_send(actor=alice, user=bob)
    return SentEmail.objects.get(user=bob, kind=SentEmail.RESET)


def test_the_request_only_queues_the_email_and_the_task_delivers_it(
    alice, bob, broker, mailoutbox, django_capture_on_commit_callbacks
):
    record = reset_sent(alice, bob, django_capture_on_commit_callbacks)
    assert mailoutbox == [] and record.is_pending
    assert queued_tasks(broker) == [("workers.tasks.email_deliver", [record.pk])]

    tasks.email_deliver.apply(args=[record.pk])

    assert [m.to for m in mailoutbox] == [[bob.email]]
    assert LINK_PART in mailoutbox[0].body
    assert mailoutbox[0].alternatives and "<" in mailoutbox[0].alternatives[0][0]
    record.refresh_from_db()
    assert record.sent_at is not None and record.attempts == 1 and not record.is_pending


def test_the_payload_is_encrypted_at_rest_and_erased_once_sent(
    alice, bob, broker, mailoutbox, django_capture_on_commit_callbacks
):
    record = reset_sent(alice, bob, django_capture_on_commit_callbacks)
    stored = SentEmail.objects.filter(pk=record.pk).values_list("payload", flat=True).get()
    assert stored and LINK_PART not in stored and "reset" not in stored.lower()
    assert LINK_PART in json.loads(encryption.decrypt(stored))["text"]

    tasks.email_deliver.apply(args=[record.pk])

    assert SentEmail.objects.filter(pk=record.pk).values_list("payload", flat=True).get() == ""
    assert LINK_PART in mailoutbox[0].body


def test_delivering_twice_sends_once(
    alice, bob, broker, mailoutbox, django_capture_on_commit_callbacks
):
    record = reset_sent(alice, bob, django_capture_on_commit_callbacks)
    tasks.email_deliver.apply(args=[record.pk])
    tasks.email_deliver.apply(args=[record.pk])
    assert len(mailoutbox) == 1


def test_an_smtp_failure_is_retried_with_backoff_and_shown_in_the_console(
    client, alice, bob, broker, failing_smtp, django_capture_on_commit_callbacks
):
    record = reset_sent(alice, bob, django_capture_on_commit_callbacks)

    before = timezone.now()
    assert emails.email_deliver(sent_email_id=record.pk) == 10
    assert emails.email_deliver(sent_email_id=record.pk) == 20
    record.refresh_from_db()
    assert record.attempts == 2 and "ConnectionRefusedError" in record.error
    assert record.is_pending  # the link is kept for the next try
    assert record.due_at >= before + timedelta(seconds=20)  # the sweep leaves it waiting

    client.force_login(alice)
    page = client.get(reverse("console:user_detail", args=[bob.pk])).content.decode()
    assert "Retrying (tried 2 times)" in page and "ConnectionRefusedError" in page


def test_after_the_last_try_the_error_stays_on_the_row_and_the_link_is_erased(
    client, alice, bob, broker, failing_smtp, django_capture_on_commit_callbacks
):
    record = reset_sent(alice, bob, django_capture_on_commit_callbacks)

    tasks.email_deliver.apply(args=[record.pk])  # eagerly: each retry runs at once

    record.refresh_from_db()
    assert record.attempts == emails.MAX_ATTEMPTS
    assert record.sent_at is None and "ConnectionRefusedError" in record.error
    assert record.payload == "" and not record.is_pending
    assert emails.email_deliver(sent_email_id=record.pk) is None  # nothing left to try
    client.force_login(alice)
    page = client.get(reverse("console:user_detail", args=[bob.pk])).content.decode()
    assert "Not sent: ConnectionRefusedError" in page


def test_the_sweep_resends_an_email_whose_task_was_lost(
    alice, bob, broker, mailoutbox, django_capture_on_commit_callbacks
):
    lost = reset_sent(alice, bob, django_capture_on_commit_callbacks)
    queued_tasks(broker)  # the task is lost: nobody will ever run it
    SentEmail.objects.filter(pk=lost.pk).update(due_at=timezone.now() - timedelta(seconds=31))
    with django_capture_on_commit_callbacks(execute=True):
        emails.password_changed_notify(user_id=bob.pk, source="admin")
    recent = SentEmail.objects.get(user=bob, kind=SentEmail.PASSWORD_CHANGED)
    queued_tasks(broker)

    assert tasks.email_sweep.apply().get() == [lost.pk]  # the recent one still has its task
    assert queued_tasks(broker) == [("workers.tasks.email_deliver", [lost.pk])]
    assert tasks.email_sweep.apply().get() == []  # re-queued just now: not again
    assert recent.is_pending

    tasks.email_deliver.apply(args=[lost.pk])
    assert [m.subject for m in mailoutbox] == [lost.subject]


def test_the_sweep_leaves_sent_waiting_and_given_up_emails_alone(
    alice, bob, broker, failing_smtp, django_capture_on_commit_callbacks
):
    record = reset_sent(alice, bob, django_capture_on_commit_callbacks)
    emails.email_deliver(sent_email_id=record.pk)  # failed once; the retry waits 10 s
    assert emails.email_sweep() == []
    later = timezone.now() + timedelta(seconds=41)
    assert emails.email_sweep(now=later) == [record.pk]  # its retry never came
    SentEmail.objects.filter(pk=record.pk).update(payload="")  # given up on
    assert emails.email_sweep(now=later + timedelta(minutes=5)) == []


def test_a_failing_mail_server_does_not_fail_or_slow_the_console(
    client, alice, bob, broker, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    client.force_login(alice)
    with silent_smtp_server() as port:
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("console:user_send_reset", args=[bob.pk]))
        took = time.monotonic() - started
    assert response.status_code == 302
    assert took < settings.EMAIL_TIMEOUT  # it never waited on the mail server
    record = SentEmail.objects.get(user=bob, kind=SentEmail.RESET)
    assert record.is_pending and record.attempts == 0 and record.error == ""
    assert [name for name, _ in queued_tasks(broker)] == ["workers.tasks.email_deliver"]


def test_bridges_queue_admin_notices_through_the_same_path(
    acme, alice, broker, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        record = emails.email_queue(
            organization=acme,
            to="it@acme.example",
            kind="m365_reauthorize",
            subject="Microsoft 365 tenant Contoso needs to be re-authorized",
            text="Open the console to re-authorize.",
            dedupe_key="tenant:1:reauthorize",
        )
        again = emails.email_queue(
            organization=acme,
            to="it@acme.example",
            kind="m365_reauthorize",
            subject="Microsoft 365 tenant Contoso needs to be re-authorized",
            text="Open the console to re-authorize.",
            dedupe_key="tenant:1:reauthorize",
        )
    assert record.user is None and again is None  # once per address and key
    assert queued_tasks(broker) == [("workers.tasks.email_deliver", [record.pk])]
    tasks.email_deliver.apply(args=[record.pk])
    assert [(m.to, m.alternatives) for m in mailoutbox] == [(["it@acme.example"], [])]


def test_admins_email_queue_writes_to_each_active_admin(acme, alice, bob, broker):
    queued = emails.admins_email_queue(
        organization=acme, kind="m365_reauthorize", subject="Re-authorize", text="Please."
    )
    assert [record.to for record in queued] == [alice.email]  # bob is a member


def test_a_bad_email_names_each_field_and_queues_nothing(acme, broker):
    with pytest.raises(InvalidInput) as raised:
        emails.email_queue(organization=acme, to="not an address", kind="", subject=" ", text="")
    assert set(raised.value.fields) == {"to", "kind", "subject", "text"}
    assert not SentEmail.objects.exists()
