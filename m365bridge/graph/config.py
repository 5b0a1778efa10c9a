"""Where Microsoft is and how to reach it: a plain value, so worker processes and
tests can build a client without Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class InsecureEndpoint(ValueError):
    """A plain-http Microsoft URL outside the local emulator."""


@dataclass(frozen=True)
class GraphConfig:
    client_id: str
    client_secret: str = field(repr=False)
    login_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    ca_bundle: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_retries: int = 4
    max_retry_wait: float = 120.0

    def __post_init__(self):
        object.__setattr__(self, "login_url", self.login_url.rstrip("/"))
        object.__setattr__(self, "graph_url", self.graph_url.rstrip("/"))
        for url in (self.login_url, self.graph_url):
            if urlsplit(url).scheme != "https" and not self.points_at_graphsim():
                raise InsecureEndpoint(
                    f"{url} is not HTTPS. Microsoft is reached over HTTPS only; plain http is "
                    "allowed only when M365_CA_BUNDLE is graphsim's local CA."
                )

    @property
    def graph_base(self) -> str:
        return f"{self.graph_url}/v1.0"

    @property
    def verify(self) -> str | bool:
        return self.ca_bundle or True

    def points_at_graphsim(self) -> bool:
        """True when the CA bundle is graphsim's own local CA (the emulator)."""
        if not self.ca_bundle:
            return False
        try:
            from cryptography import x509
            from cryptography.x509.oid import NameOID

            with open(self.ca_bundle, "rb") as handle:
                certificate = x509.load_pem_x509_certificate(handle.read())
        except (OSError, ValueError):
            return False
        names = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return any("graphsim" in str(name.value) for name in names)

    @classmethod
    def from_settings(cls) -> GraphConfig:
        from django.conf import settings

        return cls(
            client_id=settings.M365_CLIENT_ID,
            client_secret=settings.M365_CLIENT_SECRET,
            login_url=settings.M365_LOGIN_URL,
            graph_url=settings.M365_GRAPH_URL,
            ca_bundle=settings.M365_CA_BUNDLE,
        )

    def __repr__(self) -> str:  # never print the secret
        return (
            f"GraphConfig(client_id={self.client_id!r}, login_url={self.login_url!r}, "
            f"graph_url={self.graph_url!r}, ca_bundle={self.ca_bundle!r})"
        )
