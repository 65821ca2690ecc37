"""PEM material for the differential tests, generated once per process with ``cryptography``.

A CA, a client certificate signed by it with its matching key, and a key that matches nothing. Derived
variants (a CA followed by junk, a two-certificate bundle, CRLF line endings) are built from these.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: What comes after a certificate in a "CA followed by junk" bundle.
TRAILING_JUNK = b"this line is not a certificate\n"


@dataclass(frozen=True)
class Material:
    ca_cert: bytes
    client_cert: bytes
    client_key: bytes
    other_key: bytes

    @property
    def ca_with_junk(self) -> bytes:
        return self.ca_cert + TRAILING_JUNK

    @property
    def bundle(self) -> bytes:
        return self.ca_cert + self.client_cert

    @property
    def ca_crlf(self) -> bytes:
        return self.ca_cert.replace(b"\n", b"\r\n")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(subject: str, issuer: str, public: ec.EllipticCurvePublicKey, signer: ec.EllipticCurvePrivateKey, ca: bool):
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


@functools.lru_cache(maxsize=1)
def material() -> Material:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    return Material(
        ca_cert=_cert("conformance-ca", "conformance-ca", ca_key.public_key(), ca_key, ca=True),
        client_cert=_cert("conformance-user", "conformance-ca", client_key.public_key(), ca_key, ca=False),
        client_key=_key_pem(client_key),
        other_key=_key_pem(other_key),
    )
