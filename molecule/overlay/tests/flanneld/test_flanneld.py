"""The flanneld path with a stand-in binary: the unit on h2 (checked, ordered, loaded, not started); h3 refused the
wrong checksum. flanneld itself never ran: no flanneld binary exists on the test machine."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from overlay import FINGERPRINT, PKI, address  # noqa: E402

testinfra_hosts = ["h2", "h3"]
UNIT = "/etc/systemd/system/flanneld.service"
BINARY = "/usr/local/bin/flanneld"
STANDIN = (Path(__file__).resolve().parents[2] / "files" / "flanneld-standin.sh").read_text()


def is_h2(host) -> bool:
    """Whether this is h2, where the install succeeded."""
    return host.backend.get_hostname() == "h2"


def test_binary_is_the_served_file_only_where_the_checksum_matched(host) -> None:
    """h2 holds exactly the served file, executable; h3 (wrong checksum) holds none."""
    binary = host.file(BINARY)
    if not is_h2(host):
        assert not binary.exists
        return
    assert binary.content_string == STANDIN
    assert binary.mode == 0o755 and binary.user == "root"
    # The stand-in says what it is and refuses to run as a daemon.
    result = host.run(BINARY)
    assert result.rc == 1 and "not flanneld" in result.stderr


def test_unit_verifies_and_orders_after_etcd_before_the_engines(host) -> None:
    """The installed unit passes systemd-analyze verify; systemd orders it after etcd and before podman and docker."""
    if not is_h2(host):
        assert not host.file(UNIT).exists
        return
    unit = host.file(UNIT)
    assert FINGERPRINT in unit.content_string.splitlines()
    assert unit.mode == 0o644
    verify = host.run(f"systemd-analyze verify {UNIT}")
    assert verify.rc == 0, verify.stderr
    assert "flanneld.service" not in verify.stderr, verify.stderr
    props = host.service("flanneld.service").systemd_properties
    assert props["LoadState"] == "loaded"
    assert props["Type"] == "notify"
    after, before, wants = props["After"].split(), props["Before"].split(), props["Wants"].split()
    assert {"etcd.service", "network-online.target"} <= set(after)
    assert {"podman.service", "docker.service", "podman-restart.service"} <= set(before)
    assert "network-online.target" in wants
    # Installed and loaded, not started: the stand-in is not flanneld.
    assert props["ActiveState"] == "inactive"
    assert props["UnitFileState"] == "disabled"


def test_unit_runs_flanneld_with_etcd_tls_and_the_lease_file(host) -> None:
    """ExecStart names the etcd member over TLS, the prefix, the node's address, the lease file and masquerading."""
    if not is_h2(host):
        return
    exec_start = host.check_output("systemctl show -p ExecStart --value flanneld.service")
    assert f"path={BINARY} " in exec_start
    for arg in (f"-etcd-endpoints=https://{address('h1')}:2379", "-etcd-prefix=/coreos.com/network",
                f"-etcd-cafile={PKI}/ca.crt", f"-etcd-certfile={PKI}/client.crt", f"-etcd-keyfile={PKI}/client.key",
                f"-public-ip={address('h2')}", "-subnet-file=/run/flannel/subnet.env", "-ip-masq"):
        assert f" {arg} " in f" {exec_start.split('argv[]=', 1)[1].split(' ;', 1)[0]} ", arg


def test_client_certificates_copied_to_a_node_outside_etcd(host) -> None:
    """h2 is no etcd member: the role copied the etcd CA and client certificate, the key 0600; they work."""
    key = host.file(f"{PKI}/client.key")
    assert key.exists and key.mode == 0o600 and key.user == "root"
    assert host.file(f"{PKI}/ca.crt").mode == 0o644
    result = host.run(f"ETCDCTL_API=3 etcdctl --cacert={PKI}/ca.crt --cert={PKI}/client.crt --key={PKI}/client.key "
                      f"--endpoints=https://{address('h1')}:2379 get /coreos.com/network/config --print-value-only")
    assert result.rc == 0, result.stderr
    assert '"Network":"10.5.0.0/16"' in result.stdout
