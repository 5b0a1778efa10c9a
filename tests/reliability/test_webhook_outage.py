"""Two real Celery workers deliver one organization's events to a real receiver on
loopback that goes down and comes back: nothing lost, nothing sent twice, nothing
reordered, every signature verifies. The sweep runs every second instead of beat's 30 s
and the longest backoff is 1 s instead of 10 min, so the outage fits the test."""

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import Webhook

from directory import services as directory
from tests.support.processes import free_port, wait_for
from tests.webhooks.conftest import Receiver
from webhooks import services
from webhooks.models import Delivery

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SWEEP_TASK = "workers.tasks.webhook_sweep"
TOKEN = "worker-metrics-token-0123"


def add_users(alice, acme, prefix, count):
    for n in range(count):
        directory.user_create(
            actor=alice, organization=acme, email=f"{prefix}{n}@acme.example", first_name="U"
        )


def assert_the_worker_machine_counted_both_workers_tasks(port, workers):
    time.sleep(1.5)  # the ticker is stopped: let the last tasks finish
    done = [
        sum(
            1
            for line in worker.log_tail(100_000).splitlines()
            if "workers.tasks.webhook_deliver[" in line and " succeeded in " in line
        )
        for worker in workers
    ]
    url = f"http://127.0.0.1:{port}/"
    assert requests.get(url, timeout=5).status_code == 401
    text = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
    counts = {
        sample.labels["task"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "stratus_celery_tasks_total" and sample.labels["state"] == "SUCCESS"
    }
    assert min(done) > 0  # both workers delivered, and one port reports them all
    assert counts["workers.tasks.webhook_deliver"] == sum(done)


def test_two_workers_deliver_everything_once_in_order_across_a_receiver_outage(
    stack, acme, alice, settings, tmp_path
):
    settings.WEBHOOK_RETRY_MAX_SECONDS = 1
    # Both workers on "one machine": one multiprocess folder, the first serves metrics.
    port = free_port()
    stack.env.update(
        WEBHOOK_RETRY_MAX_SECONDS="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        METRICS_TOKEN=TOKEN,
    )
    receiver = Receiver()
    try:
        stack.procs.worker({**stack.env, "METRICS_WORKER_PORT": str(port)})
        stack.worker()
        ticker = stack.procs.ticker(lambda: stack.celery.send_task(SWEEP_TASK), 1)
        endpoint, secret = services.endpoint_create(
            actor=alice, organization=acme, url=receiver.url
        )

        def all_delivered() -> bool:
            deliveries = endpoint.deliveries
            return not deliveries.exclude(state=Delivery.DELIVERED).exists()

        add_users(alice, acme, "before", 10)
        wait_for(all_delivered, timeout=30, what="the first events", describe=stack.procs.logs)

        receiver.down()
        add_users(alice, acme, "during", 10)
        wait_for(
            lambda: endpoint.deliveries.filter(attempts__gte=3, state=Delivery.PENDING).exists(),
            timeout=60,
            what="the workers retrying while the receiver is down",
        )
        time.sleep(1)
        receiver.up()
        add_users(alice, acme, "after", 5)
        wait_for(all_delivered, timeout=60, what="every event after the outage")

        queued = list(endpoint.deliveries.order_by("sequence").values_list("event_id", flat=True))
        received = [event["id"] for event in receiver.events()]
        assert len(queued) >= 26  # webhook_create and 25 users' events at least
        assert received == queued  # every event, once, in order
        for headers, body in receiver.received:
            Webhook(secret).verify(body, headers)
        ticker.stop()
        assert_the_worker_machine_counted_both_workers_tasks(port, stack.procs.workers)
    finally:
        receiver.down()
