"""Sending one delivery over HTTP(S): the only place webhooks leave the machine.

Where a URL may point is decided here too: https everywhere; plain http only to a
loopback address outside production (development and tests); and in production never
to a loopback, private, link-local or reserved address, so an organization cannot make
Stratus call into its own network."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

TIMEOUT = (5, 15)  # seconds to connect, to read the answer
USER_AGENT = "Stratus-Webhooks/1"


@dataclass
class SendFailed(Exception):
    """The receiver did not take the delivery. `status` is its HTTP status, None when
    it could not be reached."""

    message: str
    status: int | None = None


def url_problem(url: str) -> str:
    """Why this URL may not receive webhooks, or "" when it may."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return "Give a full URL, like https://siem.example.com/stratus."
    if parts.username or parts.password:
        return "Put no user name or password in the URL."
    if parts.scheme == "https":
        if settings.PRODUCTION and _is_internal(host):
            return "Webhooks cannot be sent to a local or private network address."
        return ""
    if parts.scheme == "http" and not settings.PRODUCTION and _is_loopback(host):
        return ""
    return "The URL must start with https:// (plain http only to this machine in development)."


def session() -> requests.Session:
    """A session for one delivery run: deliveries to one receiver reuse its connection."""
    return requests.Session()


def send(*, url: str, body: str, headers: dict, session: requests.Session | None = None) -> int:
    """POST the body; return the 2xx status or raise SendFailed."""
    problem = url_problem(url)
    if problem:
        raise SendFailed(problem)
    if settings.PRODUCTION and _resolves_internal(url):
        raise SendFailed("The URL's host resolves to a local or private network address.")
    try:
        response = (session or requests).post(
            url,
            data=body.encode(),
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise SendFailed(f"Could not reach the receiver ({type(exc).__name__}).") from None
    if 200 <= response.status_code < 300:
        return response.status_code
    raise SendFailed(f"The receiver answered HTTP {response.status_code}.", response.status_code)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_internal(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def _resolves_internal(url: str) -> bool:
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        return False  # the send itself reports that the host is unknown
    return any(not ipaddress.ip_address(info[4][0]).is_global for info in infos)
