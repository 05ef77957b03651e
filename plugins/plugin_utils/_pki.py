# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""A small certificate authority for etcd on the controller (logic behind the etcd_pki action).

Pure functions over PEM bytes: they never read or write files, so the action decides what is written and check
mode can predict it. Keys are ECDSA P-256 (fast to make, accepted by etcd 3.4's Go TLS stack).
"""

from __future__ import annotations

import datetime
import ipaddress
import typing as t

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError as exc:  # ansible-core depends on cryptography; the action reports it if it is missing.
    CRYPTOGRAPHY_IMPORT_ERROR: ImportError | None = exc
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

# File names inside the PKI directory, per role of the file.
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CLIENT = "client"

# Certificates are reissued when they would expire within this many days.
RENEW_BEFORE_DAYS = 30


class Member(t.NamedTuple):
    """One member's certificate request: its name and the DNS names and IP addresses it answers on."""

    name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


def split_addresses(addresses: t.Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names, IP addresses), each sorted and without duplicates."""
    dns: set[str] = set()
    ips: set[str] = set()
    for address in addresses:
        try:
            ips.add(str(ipaddress.ip_address(address)))
        except ValueError:
            dns.add(address)
    return tuple(sorted(dns)), tuple(sorted(ips))


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM (etcd cannot read encrypted keys)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    """A subject or issuer name with only a common name."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str, days: int, now: datetime.datetime) -> tuple[bytes, bytes]:
    """A self-signed CA certificate and its key, as PEM."""
    key = new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)


def issue(ca_cert_pem: bytes, ca_key_pem: bytes, common_name: str, dns_names: t.Sequence[str],
          ip_addresses: t.Sequence[str], server: bool, days: int, now: datetime.datetime) -> tuple[bytes, bytes]:
    """A certificate signed by the CA and its key, as PEM; server certificates also allow client use (peers)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    key = new_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server else \
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if dns_names or ip_addresses:
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)


def _not_after(cert: x509.Certificate) -> datetime.datetime:
    """The end of validity as an aware UTC datetime, on any cryptography version."""
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def ca_usable(cert_pem: bytes | None, key_pem_bytes: bytes | None, now: datetime.datetime) -> bool:
    """Whether a stored CA certificate and key belong together and stay valid beyond the renewal window."""
    if not cert_pem or not key_pem_bytes:
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem_bytes, password=None)
    except ValueError:
        return False
    same_key = cert.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) \
        == key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return same_key and _not_after(cert) > now + datetime.timedelta(days=RENEW_BEFORE_DAYS)


def cert_usable(cert_pem: bytes | None, key_pem_bytes: bytes | None, ca_cert_pem: bytes, common_name: str,
                dns_names: t.Sequence[str], ip_addresses: t.Sequence[str], now: datetime.datetime) -> bool:
    """Whether a stored certificate is signed by the CA, matches its key, names and addresses, and stays valid."""
    if not cert_pem or not key_pem_bytes:
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
        key = serialization.load_pem_private_key(key_pem_bytes, password=None)
        ca_cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes,  # type: ignore[union-attr,call-arg]
                                    ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
    except (ValueError, InvalidSignature, TypeError):
        return False
    if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
        return False
    if cert.subject != _name(common_name) or _not_after(cert) <= now + datetime.timedelta(days=RENEW_BEFORE_DAYS):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have_dns = sorted(san.get_values_for_type(x509.DNSName))
        have_ips = sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        have_dns, have_ips = [], []
    return have_dns == sorted(dns_names) and have_ips == sorted(ip_addresses)


def plan(existing: dict[str, bytes], members: t.Sequence[Member], client_name: str, ca_name: str, days: int,
         now: datetime.datetime) -> tuple[dict[str, bytes], list[str]]:
    """Every file of the PKI directory as it must be, and the names of the files that are new or replaced.

    ``existing`` maps file names (``ca.crt``, ``<member>.crt``, ``<member>.key``, ``client.crt``, ...) to their
    content. A new CA replaces every certificate, since none of the old ones would verify against it.
    """
    files: dict[str, bytes] = {}
    if ca_usable(existing.get(CA_CERT), existing.get(CA_KEY), now):
        files[CA_CERT], files[CA_KEY] = existing[CA_CERT], existing[CA_KEY]
    else:
        files[CA_CERT], files[CA_KEY] = make_ca(ca_name, days, now)
    requests = [(member.name, member.dns_names, member.ip_addresses, True) for member in members]
    requests.append((CLIENT, (), (), False))
    for name, dns, ips, server in requests:
        common_name = name if server else client_name
        crt, key = existing.get(f"{name}.crt"), existing.get(f"{name}.key")
        if cert_usable(crt, key, files[CA_CERT], common_name, dns, ips, now):
            files[f"{name}.crt"], files[f"{name}.key"] = crt, key  # type: ignore[assignment]
        else:
            files[f"{name}.crt"], files[f"{name}.key"] = issue(files[CA_CERT], files[CA_KEY], common_name, dns, ips,
                                                               server, days, now)
    changed = sorted(name for name, content in files.items() if existing.get(name) != content)
    return files, changed
