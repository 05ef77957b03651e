"""The etcd role in system container mode: three members over TLS, each a system container with a read-only root."""

from __future__ import annotations

import json
import os

from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
MEMBERS = RUNNER.get_hosts("etcd_sc")
testinfra_hosts = MEMBERS

PKI = "/etc/etcd/pki"
TLS = f"--cacert={PKI}/ca.crt --cert={PKI}/client.crt --key={PKI}/client.key"


def test_member_runs_as_a_system_container(host) -> None:
    """etcd.service is the system container's unit (runc run), active, enabled, from a read-only root."""
    service = host.service("etcd.service")
    assert service.is_running and service.is_enabled
    assert "runc" in host.check_output("systemctl show --property=ExecStart --value etcd.service")
    config = json.loads(host.file("/var/lib/containerhost/system-containers/etcd/current/config.json").content_string)
    assert config["root"]["readonly"] is True
    assert host.run("runc exec etcd /bin/touch /written-into-root").rc != 0


def test_three_members_over_tls(host) -> None:
    """The member list over TLS holds the three hosts, all started."""
    address = host.ansible.get_variables()["ansible_host"]
    result = host.run(f"ETCDCTL_API=3 etcdctl {TLS} --endpoints=https://{address}:2379 member list --write-out=json")
    assert result.rc == 0, result.stderr
    members = json.loads(result.stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(MEMBERS)
    assert all(m["clientURLs"] for m in members)


def test_client_without_certificate_is_refused(host) -> None:
    """The member asks clients for a certificate."""
    address = host.ansible.get_variables()["ansible_host"]
    result = host.run(f"ETCDCTL_API=3 etcdctl --cacert={PKI}/ca.crt --endpoints=https://{address}:2379 "
                      "--dial-timeout=3s --command-timeout=5s get /x")
    assert result.rc != 0
