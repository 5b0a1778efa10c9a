"""Logs: JSON lines with one field per value, and never a secret, in either format."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from ops import context
from ops.logs import JsonFormatter, RedactingFormatter

ROOT = Path(__file__).resolve().parents[2]
SECRETS = [
    "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "stk_0123456789abcdef_Zm9vYmFyYmF6cXV4",
    "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
    "client_secret=Sup3r-Secret-Value",
    'password: "Correct-Horse-42"',
]


def record(message, *args, exc_info=None, **extra):
    rec = logging.LogRecord("stratus.test", logging.WARNING, __file__, 1, message, args, exc_info)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_a_json_line_has_one_field_per_value():
    with context.bound(request_id="req-12345678", tenant="7", ms_request_id="ms-abc"):
        line = json.loads(JsonFormatter().format(record("synced %s users", 3, binding=42)))
    assert line["message"] == "synced 3 users"
    assert line["level"] == "WARNING" and line["logger"] == "stratus.test"
    assert line["request_id"] == "req-12345678"
    assert line["tenant"] == "7" and line["binding"] == 42
    assert line["ms_request_id"] == "ms-abc"
    assert "time" in line


def test_no_secret_passed_through_a_log_record_reaches_the_line():
    for secret in SECRETS:
        rec = record("calling with %s", secret, password="Correct-Horse-42", token=secret)
        for formatter in (JsonFormatter(), RedactingFormatter("%(message)s")):
            out = formatter.format(rec)
            assert "Correct-Horse-42" not in out
            assert secret.split()[-1].split("=")[-1] not in out, (formatter, out)
            assert "[redacted]" in out


def test_a_secret_in_an_exception_is_redacted_too():
    try:
        raise RuntimeError("token=abcdef0123456789 rejected")
    except RuntimeError:
        rec = record("failed", exc_info=sys.exc_info())
    line = json.loads(JsonFormatter().format(rec))
    assert "abcdef0123456789" not in line["exception"]
    assert "RuntimeError" in line["exception"]


def test_log_format_json_makes_every_line_json(tmp_path):
    script = (
        "import logging; logging.getLogger('stratus.x').warning("
        "'user %s signed in with %s', 'bob@acme.example', 'password=Hunter2-Hunter2')"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line["logger"] == "stratus.x"]
    assert ours and ours[0]["message"].startswith("user bob@acme.example signed in with")
    assert "Hunter2-Hunter2" not in result.stderr


def test_every_request_gets_a_request_id_its_log_lines_carry(client, db, caplog):
    response = client.get("/console/sign-in/", HTTP_X_REQUEST_ID="lb-0123456789")
    assert response["X-Request-ID"] == "lb-0123456789"
    fresh = client.get("/console/sign-in/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert fresh["X-Request-ID"] != "bad id\nwith newline" and len(fresh["X-Request-ID"]) == 32


def test_the_plain_format_is_redacted_too():
    script = (
        "import logging; logging.getLogger('stratus.x').warning('sent Bearer abcdefghijklmnop')"
    )
    env = {**os.environ, "LOG_FORMAT": "plain", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "WARNING stratus.x sent Bearer [redacted]" in result.stderr
    assert "abcdefghijklmnop" not in result.stderr


def test_context_set_during_a_request_does_not_outlive_it(rf):
    from django.http import HttpResponse

    from ops.middleware import OpsMiddleware

    def view(request):
        context.set_field("ms_request_id", "ms-from-this-request")
        return HttpResponse()

    context.clear()
    OpsMiddleware(view)(rf.get("/anything/"))
    assert "ms_request_id" not in context.current()
