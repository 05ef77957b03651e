"""cluster.yml converged: three started etcd members over TLS, client certificates required, one leader."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from cluster import FINGERPRINT, PKI, RUNNER, address, endpoint_statuses, etcdctl  # noqa: E402

MEMBERS = RUNNER.get_hosts("etcd")
testinfra_hosts = MEMBERS


def test_service_running_and_enabled(host) -> None:
    """etcd.service runs (Debian's unit) and starts at boot."""
    service = host.service("etcd.service")
    assert service.is_running
    assert service.is_enabled
    assert service.systemd_properties["ActiveState"] == "active"


def test_config_carries_fingerprint_and_tls(host) -> None:
    """/etc/default/etcd is the role's, with TLS and client-certificate auth for clients and peers."""
    config = host.file("/etc/default/etcd")
    assert FINGERPRINT in config.content_string.splitlines()
    content = config.content_string
    assert 'ETCD_CLIENT_CERT_AUTH="true"' in content
    assert 'ETCD_PEER_CLIENT_CERT_AUTH="true"' in content
    assert f'ETCD_ADVERTISE_CLIENT_URLS="https://{address(host)}:2379"' in content
    key = host.file(f"{PKI}/member.key")
    assert key.user == "etcd" and key.mode == 0o600


def test_three_started_members_over_tls(host) -> None:
    """The member list over TLS holds the three hosts, all started, none a learner."""
    result = etcdctl(host, "member list --write-out=json")
    assert result.rc == 0, result.stderr
    members = json.loads(result.stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(MEMBERS)
    assert all(m["clientURLs"] and not m.get("isLearner", False) for m in members)
    assert all(url.startswith("https://") for m in members for url in m["peerURLs"] + m["clientURLs"])


def test_one_leader(host) -> None:
    """Every endpoint names the same leader, and it is one of the members."""
    statuses = endpoint_statuses(host, MEMBERS)
    assert len(statuses) == 3
    leaders = {s["Status"]["leader"] for s in statuses}
    assert len(leaders) == 1
    assert leaders <= {s["Status"]["header"]["member_id"] for s in statuses}


def test_write_and_read_over_tls(host) -> None:
    """A client with the certificate writes on this member and reads the value back."""
    key = f"/molecule/{host.backend.get_hostname()}"
    assert etcdctl(host, f"put {key} ok").rc == 0
    result = etcdctl(host, f"get --print-value-only {key}")
    assert result.rc == 0 and result.stdout.strip() == "ok"


@pytest.mark.parametrize("tls", [f"--cacert={PKI}/ca.crt", ""], ids=["no-client-cert", "no-tls-options"])
def test_client_without_certificate_is_refused(host, tls: str) -> None:
    """Without a client certificate the member refuses the request."""
    result = etcdctl(host, "get /molecule --prefix", tls=tls)
    assert result.rc != 0
    assert result.stdout.strip() == ""


def test_plain_http_is_refused(host) -> None:
    """The client port speaks TLS only."""
    result = etcdctl(host, "get /molecule --prefix", tls="", endpoint=f"http://{address(host)}:2379")
    assert result.rc != 0


def test_engine_on_the_nodes(host) -> None:
    """The engine phase ran on the nodes: podman answers with the storage driver the role configured."""
    if host.backend.get_hostname() not in RUNNER.get_hosts("nodes"):
        pytest.skip("not a node")
    assert host.check_output("podman info --format '{{.Store.GraphDriverName}}'") == "overlay"


def test_overlay_on_the_nodes(host) -> None:
    """The overlay phase ran (daemonless): the node has flannel.1 (VXLAN) and the engine's network on its subnet."""
    if host.backend.get_hostname() not in RUNNER.get_hosts("nodes"):
        pytest.skip("not a node")
    link = host.check_output("ip -d link show flannel.1")
    assert "vxlan id 1" in link and "dstport 8472" in link
    subnet = host.check_output(". /run/flannel/subnet.env && echo $FLANNEL_SUBNET")
    assert subnet.startswith("10.")
    network = host.check_output("podman network inspect flannel --format '{{range .Subnets}}{{.Gateway}}{{end}}'")
    assert network == subnet.split("/")[0]
