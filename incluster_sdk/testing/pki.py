"""Throwaway PKI for tests: a CA, serving certificates, and the service-account signing key.

Needs the ``cryptography`` package (``pip install incluster-sdk[testing]``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "incluster_sdk.testing needs the 'cryptography' package: pip install 'incluster-sdk[testing]'"
    ) from exc

_VALIDITY = dt.timedelta(days=365)  # more than the doctor's 30-day CA warning: a local cluster looks healthy


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key.

    :param cert_pem: the certificate, PEM (for :func:`rsa_signing_key`: the public key, PEM).
    :param key_pem: the private key, PEM, PKCS#8, unencrypted.
    """

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class CertificateAuthority:
    """A throwaway CA (ECDSA P-256) that issues server and client certificates, each valid for 365 days.

    :param cert_pem: the CA certificate, PEM.
    :param key_pem: the CA's private key, PEM, PKCS#8, unencrypted.
    """

    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def create(cls, common_name: str = "incluster-sdk-test-ca") -> CertificateAuthority:
        """A new self-signed CA, valid from 5 minutes ago (clock skew) for 365 days (beyond the doctor's 30-day
        expiry warning).

        :param common_name: the CA's subject common name.
        :returns: the CA.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))

    def issue(
        self,
        common_name: str,
        *,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        client: bool = False,
        organization: str | None = None,
    ) -> CertPair:
        """A leaf certificate signed by this CA, for a server (SANs) or a client (CN/O = user/group).

        :param common_name: the subject's common name: the user name for a client certificate.
        :param dns: DNS names for the subject alternative names (a server's).
        :param ips: IP addresses (strings) for the subject alternative names (a server's).
        :param client: a client certificate (extended key usage clientAuth) instead of a server one
            (serverAuth).
        :param organization: the subject's organization: the group for a client certificate; None: none.
        :returns: the certificate and its new ECDSA P-256 key.
        """
        ca_cert = x509.load_pem_x509_certificate(self.cert_pem)
        ca_key = serialization.load_pem_private_key(self.key_pem, None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        now = dt.datetime.now(dt.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return CertPair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def rsa_signing_key() -> CertPair:
    """A new RSA 2048-bit key pair for ``--service-account-signing-key-file``.

    :returns: the pair; its ``cert_pem`` holds the public key (PEM, SubjectPublicKeyInfo), not a certificate.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return CertPair(public, _pem_key(key))
