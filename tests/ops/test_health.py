"""/healthz and /readyz: unauthenticated, cheap, right status codes, leaking nothing."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_sign_in_host_check_or_https_redirect(client, settings):
    settings.ALLOWED_HOSTS = ["stratus.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_database_redis_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok", "redis": "ok"},
    }


def test_readyz_is_503_naming_the_failed_check_and_nothing_else(client, settings):
    settings.REDIS_URL = "redis://:hunter2@127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == "fail"
    assert body["checks"]["database"] == "ok"
    for leak in (b"127.0.0.1", b"hunter2", b"Error", b"refused", b"redis://"):
        assert leak not in response.content


def test_readyz_fails_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/1"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "fail"


def test_probes_set_no_cookie_and_are_not_cached(client):
    response = client.get("/readyz")
    assert not response.cookies
    assert response["Cache-Control"] == "no-store"
