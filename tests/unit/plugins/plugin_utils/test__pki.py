# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""plugin_utils/_pki.py: the etcd CA, reuse of fitting certificates and reissue of the rest."""

from __future__ import annotations

import datetime

import pytest

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.containerhost.platform.plugins.plugin_utils import _pki

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
M1 = _pki.Member("m1", ("m1.example",), ("10.0.0.1", "127.0.0.1"))
M2 = _pki.Member("m2", (), ("10.0.0.2",))


@pytest.fixture(scope="module", name="first")
def fixture_first() -> dict[str, bytes]:
    """The files of a first run on an empty directory."""
    files, changed = _pki.plan({}, [M1, M2], "etcd-client", "etcd-ca", 365, NOW)
    assert changed == sorted(files)
    return files


def load(pem: bytes) -> x509.Certificate:
    """A PEM certificate."""
    return x509.load_pem_x509_certificate(pem)


@pytest.mark.parametrize(("addresses", "expected"), [
    (["10.0.0.1", "h1", "10.0.0.1", "::1"], (("h1",), ("10.0.0.1", "::1"))),
    ([], ((), ())),
])
def test_split_addresses(addresses: list[str], expected: tuple) -> None:
    """IP addresses and DNS names are told apart, sorted and deduplicated."""
    assert _pki.split_addresses(addresses) == expected


def test_first_run_makes_every_file(first: dict[str, bytes]) -> None:
    """CA, one certificate and key per member, and the client pair."""
    assert sorted(first) == ["ca.crt", "ca.key", "client.crt", "client.key", "m1.crt", "m1.key", "m2.crt", "m2.key"]
    ca = load(first["ca.crt"])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_member_certificate_names_and_usages(first: dict[str, bytes]) -> None:
    """A member certificate serves and peers (server and client auth) under its names and addresses."""
    cert = load(first["m1.crt"])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["m1.example"]
    assert sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == ["10.0.0.1", "127.0.0.1"]
    usages = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.issuer == load(first["ca.crt"]).subject


def test_client_certificate_is_client_only(first: dict[str, bytes]) -> None:
    """The client certificate cannot serve."""
    cert = load(first["client.crt"])
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.rfc4514_string() == "CN=etcd-client"


def test_second_run_changes_nothing(first: dict[str, bytes]) -> None:
    """Everything fits: the same bytes, nothing changed."""
    files, changed = _pki.plan(first, [M1, M2], "etcd-client", "etcd-ca", 365, NOW)
    assert changed == []
    assert files == first


def test_new_address_reissues_only_that_member(first: dict[str, bytes]) -> None:
    """A member with another address gets a new certificate; the others are kept."""
    moved = _pki.Member("m2", (), ("10.0.0.22",))
    files, changed = _pki.plan(first, [M1, moved], "etcd-client", "etcd-ca", 365, NOW)
    assert changed == ["m2.crt", "m2.key"]
    assert _pki.cert_usable(files["m2.crt"], files["m2.key"], files["ca.crt"], "m2", (), ("10.0.0.22",), NOW)


def test_added_member_gets_certificate(first: dict[str, bytes]) -> None:
    """Scaling out issues only the new member's pair."""
    _files, changed = _pki.plan(first, [M1, M2, _pki.Member("m3", (), ("10.0.0.3",))], "etcd-client", "etcd-ca",
                                365, NOW)
    assert changed == ["m3.crt", "m3.key"]


def test_lost_ca_key_reissues_everything(first: dict[str, bytes]) -> None:
    """Without the CA key a new CA is made and no old certificate is kept."""
    existing = {name: content for name, content in first.items() if name != "ca.key"}
    files, changed = _pki.plan(existing, [M1, M2], "etcd-client", "etcd-ca", 365, NOW)
    assert changed == sorted(files)


def test_expiring_certificates_are_renewed(first: dict[str, bytes]) -> None:
    """Within the renewal window, the CA (and with it every certificate) is replaced."""
    later = NOW + datetime.timedelta(days=365 - _pki.RENEW_BEFORE_DAYS + 1)
    _files, changed = _pki.plan(first, [M1, M2], "etcd-client", "etcd-ca", 365, later)
    assert "ca.crt" in changed and "m1.crt" in changed


@pytest.mark.parametrize("mangle", ["swap_key", "foreign_ca", "garbage", "missing"])
def test_cert_usable_refuses(first: dict[str, bytes], mangle: str) -> None:
    """A certificate with the wrong key, from another CA, unreadable or missing is not reused."""
    crt, key, ca = first["m1.crt"], first["m1.key"], first["ca.crt"]
    if mangle == "swap_key":
        key = first["m2.key"]
    elif mangle == "foreign_ca":
        ca = _pki.make_ca("other", 365, NOW)[0]
    elif mangle == "garbage":
        crt = b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
    else:
        crt = None
    assert not _pki.cert_usable(crt, key, ca, "m1", M1.dns_names, M1.ip_addresses, NOW)
    assert _pki.cert_usable(first["m1.crt"], first["m1.key"], first["ca.crt"], "m1", M1.dns_names, M1.ip_addresses,
                            NOW)
