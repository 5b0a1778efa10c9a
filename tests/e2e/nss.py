"""Make headless Chromium trust graphsim's local CA the way a person's machine would:
the CA goes into an NSS certificate database (`$HOME/.pki/nssdb`, where Chromium on
Linux keeps the certificates its user added) marked as trusted for TLS servers. The
browser is then launched with that HOME and certificate checking left on, so a page
from graphsim loads only because its chain verifies to this CA.

No `certutil` is needed: this calls the NSS library itself (libnss3, which Chromium
depends on, so it is on every machine that has Chromium) through ctypes.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import os
from pathlib import Path


class _SECItem(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
        ("len", ctypes.c_uint),
    ]


class _CERTCertTrust(ctypes.Structure):
    _fields_ = [
        ("sslFlags", ctypes.c_uint),
        ("emailFlags", ctypes.c_uint),
        ("objectSigningFlags", ctypes.c_uint),
    ]


def _nss() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("nss3") or "libnss3.so")
    p = ctypes.c_void_p
    lib.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
    lib.CERT_GetDefaultCertDB.restype = p
    lib.CERT_NewTempCertificate.restype = p
    lib.CERT_NewTempCertificate.argtypes = [
        p,
        ctypes.POINTER(_SECItem),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.PK11_GetInternalKeySlot.restype = p
    lib.PK11_NeedUserInit.argtypes = [p]
    lib.PK11_InitPin.argtypes = [p, ctypes.c_char_p, ctypes.c_char_p]
    lib.PK11_ImportCert.argtypes = [p, p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.CERT_DecodeTrustString.argtypes = [ctypes.POINTER(_CERTCertTrust), ctypes.c_char_p]
    lib.CERT_ChangeCertTrust.argtypes = [p, p, ctypes.POINTER(_CERTCertTrust)]
    lib.PK11_FreeSlot.argtypes = [p]
    lib.CERT_DestroyCertificate.argtypes = [p]
    return lib


def _pem_to_der(pem_path: str) -> bytes:
    lines = Path(pem_path).read_text().splitlines()
    start = lines.index("-----BEGIN CERTIFICATE-----")
    end = lines.index("-----END CERTIFICATE-----", start)
    return base64.b64decode("".join(lines[start + 1 : end]))


def home_trusting_ca(home: str | os.PathLike, ca_pem: str, *, nickname: str = "graphsim CA"):
    """Create `<home>/.pki/nssdb` with the CA of `ca_pem` trusted to issue TLS server
    certificates ("C,," in certutil's words). Returns `home`."""
    db_dir = Path(home) / ".pki" / "nssdb"
    db_dir.mkdir(parents=True, exist_ok=True)
    nss = _nss()
    if nss.NSS_InitReadWrite(f"sql:{db_dir}".encode()) != 0:
        raise RuntimeError(f"NSS could not open {db_dir} (error {nss.PORT_GetError()})")
    slot = cert = None
    try:
        der = _pem_to_der(ca_pem)
        buffer = (ctypes.c_ubyte * len(der)).from_buffer_copy(der)
        item = _SECItem(0, buffer, len(der))
        handle = nss.CERT_GetDefaultCertDB()
        cert = nss.CERT_NewTempCertificate(handle, ctypes.byref(item), None, 0, 1)
        if not cert:
            raise RuntimeError(f"NSS could not read {ca_pem} (error {nss.PORT_GetError()})")
        slot = nss.PK11_GetInternalKeySlot()
        if nss.PK11_NeedUserInit(slot) and nss.PK11_InitPin(slot, b"", b"") != 0:
            raise RuntimeError(f"NSS could not initialise {db_dir} (error {nss.PORT_GetError()})")
        if nss.PK11_ImportCert(slot, cert, 0, nickname.encode(), 0) != 0:
            raise RuntimeError(f"NSS could not import the CA (error {nss.PORT_GetError()})")
        trust = _CERTCertTrust()
        nss.CERT_DecodeTrustString(ctypes.byref(trust), b"C,,")
        if nss.CERT_ChangeCertTrust(handle, cert, ctypes.byref(trust)) != 0:
            raise RuntimeError(f"NSS could not trust the CA (error {nss.PORT_GetError()})")
    finally:
        if cert:
            nss.CERT_DestroyCertificate(cert)
        if slot:
            nss.PK11_FreeSlot(slot)
        nss.NSS_Shutdown()
    return home
