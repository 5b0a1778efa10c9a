"""The production shape: `check --deploy` is clean, and docker-compose.yml names only
settings the project reads."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG"))}
    env.update(
        STRATUS_ENV="production",
        SECRET_KEY="x" * 20 + "-production-secret-key-for-the-deploy-check-0123456789",
        ALLOWED_HOSTS="stratus.example.com",
        FIELD_ENCRYPTION_KEYS="ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZHV=",
        DATABASE_URL="sqlite:////tmp/stratus-deploy-check.sqlite3",
        **extra,
    )
    return env


def test_production_settings_pass_the_deploy_check_with_no_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets():
    env = production_env()
    del env["FIELD_ENCRYPTION_KEYS"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


def _variables_read_by_settings() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', source))


def test_docker_compose_parses_and_uses_only_settings_the_project_reads():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"web", "worker", "scheduler", "db", "redis"} <= set(compose["services"])
    read = _variables_read_by_settings()
    for name in ("web", "worker", "scheduler"):
        service = compose["services"][name]
        assert service["command"], name
        unknown = set(service["environment"]) - read
        assert not unknown, f"{name} sets variables Stratus never reads: {unknown}"


def test_env_example_lists_every_variable_the_settings_read():
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    missing = _variables_read_by_settings() - listed
    assert not missing, f".env.example does not list {missing}"


def test_make_test_stops_at_once_with_a_way_out_when_a_service_is_down():
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/stratus",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "config.preflight"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "PostgreSQL is not reachable at postgres://postgres@127.0.0.1:1/stratus" in result.stderr
    assert "docker compose up -d db redis" in result.stderr
