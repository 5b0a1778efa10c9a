"""Real-browser tests: headless Debian Chromium driven by Playwright's sync API against
pytest-django's live server, with Django's in-memory mailbox as the test inbox.

Run them alone with `pytest -m e2e`. Screenshots land in `screenshots-ci/` (kept out of
git); `docs/screenshots/` holds the copies the README shows.
"""

import os
import shutil
import time
from pathlib import Path

import pytest
from django.core import mail

# Playwright's sync API runs an event loop in this thread; Django's ORM, used by the
# test itself between browser steps, would otherwise refuse to run "in async context".
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots-ci"


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(live_server, settings):
    """The live server, with emails kept in memory and links pointing at it."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.BASE_URL = live_server.url
    mail.outbox = []
    return live_server


@pytest.fixture
def new_page(browser):
    """A fresh browser context (its own cookies) per person in the story."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1100, "height": 760})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def wait_for_mail(subject_part: str, to: str, timeout: float = 10.0):
    """The newest message to `to` whose subject contains `subject_part`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(mail.outbox):
            if to in message.to and subject_part.lower() in message.subject.lower():
                return message
        time.sleep(0.1)
    raise AssertionError(
        f"no '{subject_part}' email to {to}; got {[(m.to, m.subject) for m in mail.outbox]}"
    )


def link_in(message) -> str:
    return next(word for word in message.body.split() if "/portal/" in word)


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
