"""Emailed account tokens never reach a log: the development server's and gunicorn's
access logs show `/portal/reset/[redacted]/`. Both servers run for real."""

import logging
import os
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from config.logredact import REDACTED, RedactAccountTokens
from tests.support.processes import PYTHON, ManagedProcess, free_port, wait_for

TOKEN = "lookup1234.secret-part-of-the-token"
pytestmark = pytest.mark.slow


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _visit_token_links(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    for path in (f"/portal/reset/{TOKEN}/", f"/portal/activate/{TOKEN}/"):
        request = urllib.request.Request(base + path, headers={"Referer": base + path})
        try:
            urllib.request.urlopen(request, timeout=10).read()
        except urllib.error.HTTPError as answer:  # an unknown token is a 404 page
            assert answer.code == 404


def _served(argv: list[str], port: int, name: str) -> str:
    env = {**os.environ, "DATABASE_URL": _database_url(), "DEBUG": "true"}
    server = ManagedProcess(name, argv, env=env).start()
    try:
        wait_for(
            lambda: _answers(port), timeout=30, what=f"{name} listening", describe=server.log_tail
        )
        _visit_token_links(port)
        wait_for(lambda: "/portal/activate/" in server.log_tail(), timeout=10, what="log line")
    finally:
        server.stop()
    return server.log_tail(200)


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/portal/sign-in/", timeout=2).read()
    except OSError:
        return False
    return True


def test_the_development_server_logs_token_links_without_the_token(db):
    port = free_port()
    argv = [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    log = _served(argv, port, "runserver")
    assert f"/portal/reset/{REDACTED}/" in log
    assert "secret-part" not in log


def test_gunicorns_access_log_has_no_token_in_the_path_or_the_referer(db):
    port = free_port()
    argv = [
        *(PYTHON, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"),
        *("--access-logfile", "-", "--logger-class", "config.logredact.GunicornLogger"),
    ]
    log = _served(argv, port, "gunicorn")
    assert f'"GET /portal/reset/{REDACTED}/ HTTP/1.1" 404' in log
    assert f'"http://127.0.0.1:{port}/portal/activate/{REDACTED}/"' in log  # the Referer
    assert "secret-part" not in log


def test_other_log_lines_pass_unchanged():
    record = logging.LogRecord("x", logging.INFO, "", 0, "GET %s", ("/portal/forgot/",), None)
    assert RedactAccountTokens().filter(record) is True
    assert record.getMessage() == "GET /portal/forgot/"
