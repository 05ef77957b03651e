"""Shared by the overlay scenario's test directories: the inventory, etcdctl on h1, the nodes' lease files."""

from __future__ import annotations

import base64
import json
import os

from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
FINGERPRINT = "# containerhost.platform:flannel"
PREFIX = "/coreos.com/network"
PKI = "/etc/etcd/pki"
TLS = f"--cacert={PKI}/ca.crt --cert={PKI}/client.crt --key={PKI}/client.key"
DEVICE = "flannel.1"


def address(name: str) -> str:
    """The testbed address of the inventory host ``name``."""
    return RUNNER.get_variables(name)["ansible_host"]


def host_of(name: str):
    """A testinfra host for the inventory host ``name``."""
    return RUNNER.get_host(name)


def etcd_range(prefix: str) -> dict[str, str]:
    """Every key below ``prefix`` and its value, read with etcdctl on h1 over TLS."""
    result = host_of("h1").run(
        f"ETCDCTL_API=3 etcdctl {TLS} --endpoints=https://{address('h1')}:2379 get --prefix {prefix} -w json")
    assert result.rc == 0, result.stderr
    kvs = json.loads(result.stdout).get("kvs", [])
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode() for kv in kvs}


def subnet_env(host) -> dict[str, str]:
    """The node's /run/flannel/subnet.env as data (comments left out)."""
    lines = host.file("/run/flannel/subnet.env").content_string.splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def link(host, name: str = DEVICE, stats: bool = False) -> dict:
    """``ip -d -j link show`` of a device (with -s, its counters)."""
    flags = "-s -d -j" if stats else "-d -j"
    return json.loads(host.check_output(f"ip {flags} link show {name}"))[0]
