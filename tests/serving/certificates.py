"""Certificates the TLS tests make for themselves: a CA, a server certificate for 127.0.0.1 and
localhost, and client certificates (one from the CA, one self-signed that no server trusts)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class KeyPair:
    key: bytes  # PEM
    cert: bytes  # PEM

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """(certificate file, key file), as requests' `cert=` takes them."""
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_bytes(self.cert)
        key.write_bytes(self.key)
        return cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool = False, server: bool = False
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


class CertificateAuthority:
    def __init__(self, name: str = "keras-to-serving test CA"):
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = _certificate(name, self._key, _name(name), self._key, ca=True)
        self.pem = self._cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, subject: str, *, server: bool = False) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(subject, key, self._cert.subject, self._key, server=server)
        return KeyPair(_pem_key(key), cert.public_bytes(serialization.Encoding.PEM))


def ssl_config_text(server: KeyPair, custom_ca: bytes | None = None, client_verify: bool = False) -> str:
    """A text tensorflow.serving.SSLConfig, as an operator writes it for --ssl_config_file."""

    def quoted(pem: bytes) -> str:
        return '"' + pem.decode().replace("\n", "\\n") + '"'

    lines = [f"server_key: {quoted(server.key)}", f"server_cert: {quoted(server.cert)}"]
    if custom_ca is not None:
        lines.append(f"custom_ca: {quoted(custom_ca)}")
    lines.append(f"client_verify: {'true' if client_verify else 'false'}")
    return "\n".join(lines) + "\n"
