"""A local CA and a server certificate, created once in the data folder.

MSAL refuses plain-http authorities, so graphsim must speak TLS; clients trust
the CA file this module writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import trustme


@dataclass
class CertPaths:
    ca: str
    cert: str
    key: str


def ensure_certificates(data_dir: str) -> CertPaths:
    paths = CertPaths(
        ca=os.path.join(data_dir, "ca.pem"),
        cert=os.path.join(data_dir, "server.pem"),
        key=os.path.join(data_dir, "server.key"),
    )
    if all(os.path.exists(p) for p in (paths.ca, paths.cert, paths.key)):
        return paths
    os.makedirs(data_dir, exist_ok=True)
    ca = trustme.CA(organization_name="graphsim local CA")
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca.cert_pem.write_to_path(paths.ca)
    server.private_key_pem.write_to_path(paths.key)
    server.cert_chain_pems[0].write_to_path(paths.cert)
    for extra in server.cert_chain_pems[1:]:
        with open(paths.cert, "ab") as handle:
            handle.write(extra.bytes())
    os.chmod(paths.key, 0o600)
    return paths
