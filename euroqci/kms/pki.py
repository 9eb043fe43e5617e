"""A small PKI for a KME network, with the ``cryptography`` package.

Files written by :func:`init_pki` into ``DIR`` (PEM; private keys unencrypted, mode 0600):

- ``ca.pem``, ``ca-key.pem``: the self-signed CA (ECDSA P-256) that signs everything.
- ``kme-<ID>.pem``, ``kme-<ID>-key.pem``: each KME's certificate, CN = KME ID, SAN
  DNS ``localhost`` and IP ``127.0.0.1``; extended key usage serverAuth AND clientAuth, so
  the same certificate serves HTTPS and authenticates KME-to-KME calls.
- ``sae-<ID>.pem``, ``sae-<ID>-key.pem``: each SAE's client certificate, CN = SAE ID
  (the identity the KME reads, see ``kms/tls.py``), clientAuth.

An existing CA in ``DIR`` is reused, so certificates can be added later; existing
certificates are kept.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from euroqci.errors import InvalidParameter

_VALID = dt.timedelta(days=825)


@dataclass(frozen=True)
class CertFiles:
    """Paths of one certificate and its private key."""

    cert: Path
    key: Path


def _name(cn: str, org: str = "euroqci") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _check_id(kind: str, value: str) -> str:
    if not value or any(c in value for c in "/\\@\0") or value.startswith("."):
        raise InvalidParameter(kind, value, "a non-empty ID without '/', '\\', '@'")
    return value


def ensure_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Load the CA of ``directory``, creating it if absent."""
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return cert, key  # type: ignore[return-value]
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name("euroqci KMS CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def issue(
    directory: Path,
    stem: str,
    common_name: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    *,
    server: bool,
) -> CertFiles:
    """Write ``<stem>.pem`` and ``<stem>-key.pem`` signed by ``ca`` (kept if present)."""
    files = CertFiles(directory / f"{stem}.pem", directory / f"{stem}-key.pem")
    if files.cert.exists() and files.key.exists():
        return files
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(files.key, key)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def init_pki(
    directory: str | Path, kmes: list[str], saes: list[tuple[str, str]]
) -> dict[str, CertFiles]:
    """Create (or complete) the PKI in ``directory``; ``saes`` are ``(sae_id, kme_id)`` pairs.

    Returns ``{"ca": ..., "kme:<ID>": ..., "sae:<ID>": ...}``.
    """
    directory = Path(directory)
    for sae, kme in saes:
        _check_id("SAE ID", sae)
        if kme not in kmes:
            raise InvalidParameter("--sae", f"{sae}@{kme}", f"a KME among --kme {kmes}")
    if set(kmes) & {s for s, _ in saes}:
        raise InvalidParameter("--sae", sorted(set(kmes) & {s for s, _ in saes}), "IDs unique")
    ca = ensure_ca(directory)
    out = {"ca": CertFiles(directory / "ca.pem", directory / "ca-key.pem")}
    for kme in kmes:
        out[f"kme:{kme}"] = issue(
            directory, f"kme-{_check_id('KME ID', kme)}", kme, ca, server=True
        )
    for sae, _ in saes:
        out[f"sae:{sae}"] = issue(directory, f"sae-{sae}", sae, ca, server=False)
    return out
