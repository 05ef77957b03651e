"""Unit tests for the testbed registries' pure parts."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

import _registry
import testbed

SUBNET = ipaddress.ip_network("172.29.223.0/24")

INFO = {
    "address": "172.29.223.1",
    "ports": {"open": 5000, "auth": 5001},
    "ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "ca_cert_path": "/state/registry/ca.crt",
    "cert_dir": "/state/registry/certs",
    "username": "chtest",
    "password": "s3cret",
    "pids": {"open": 10, "auth": 11},
}


def test_ports_follow_the_base():
    assert _registry.ports(5000) == {"open": 5000, "auth": 5001}
    assert _registry.ports(6100) == {"open": 6100, "auth": 6101}


@pytest.mark.parametrize(
    ("inspect", "expected"),
    [
        ([{"name": "chti0", "subnets": [{"subnet": "172.29.223.0/24", "gateway": "172.29.223.1"}]}], "172.29.223.1"),
        # A gateway podman chose elsewhere in the subnet is taken as it is.
        ({"subnets": [{"subnet": "172.29.223.0/24", "gateway": "172.29.223.254"}]}, "172.29.223.254"),
        # Another subnet's gateway is not ours; no network at all: the subnet's first address.
        ([{"subnets": [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]}], "172.29.223.1"),
        ([], "172.29.223.1"),
        ([{"subnets": None}], "172.29.223.1"),
    ],
)
def test_gateway_from_inspect(inspect, expected):
    assert _registry.gateway_from_inspect(inspect, SUBNET) == expected


def test_san_extension_lists_each_address_once_by_kind():
    assert _registry.san_extension(["172.29.223.1", "127.0.0.1"]) == "IP:172.29.223.1,IP:127.0.0.1"
    assert _registry.san_extension(["127.0.0.1", "127.0.0.1", "fd00::1"]) == "IP:127.0.0.1,IP:fd00::1"
    assert _registry.san_extension(["registry.example"]) == "DNS:registry.example"


@pytest.mark.parametrize("kind", ["open", "auth"])
def test_render_config(kind):
    config = json.loads(_registry.render_config(kind, "172.29.223.1", 5001, Path("/state/registry")))
    assert config["http"]["addr"] == "172.29.223.1:5001"
    assert config["http"]["tls"] == {"certificate": "/state/registry/server.crt", "key": "/state/registry/server.key"}
    assert config["storage"]["filesystem"]["rootdirectory"] == f"/state/registry/{kind}/data"
    if kind == "auth":
        assert config["auth"] == {"htpasswd": {"realm": "containerhost-testbed", "path": "/state/registry/htpasswd"}}
    else:
        assert "auth" not in config


def test_inventory_vars():
    found = _registry.inventory_vars(INFO)
    assert found == {
        "address": "172.29.223.1", "tls_port": 5000, "auth_port": 5001,
        "tls_registry": "172.29.223.1:5000", "auth_registry": "172.29.223.1:5001",
        "ca_cert": INFO["ca_cert"], "ca_cert_path": "/state/registry/ca.crt", "cert_dir": "/state/registry/certs",
        "username": "chtest", "password": "s3cret",
    }


def test_matching_processes_only_this_instances_registries():
    root = Path("/work/out/chti/registry")
    processes = [
        (1, ["/sbin/init"]),
        (20, ["/usr/bin/docker-registry", "serve", "/work/out/chti/registry/open/config.yml"]),
        (21, ["docker-registry", "serve", "/work/out/chti/registry/auth/config.yml"]),
        # Another instance (a sibling directory sharing the prefix) and a registry of someone else.
        (22, ["/usr/bin/docker-registry", "serve", "/work/out/chti/registry-other/open/config.yml"]),
        (23, ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]),
        # Something else that names the directory.
        (24, ["/usr/bin/tail", "-f", "/work/out/chti/registry/open/registry.log"]),
    ]
    assert [pid for pid, _argv in _registry.matching_processes(processes, root)] == [20, 21]


def test_inventory_carries_the_registry_only_when_up():
    hosts = [{"name": "h1", "kind": "container", "ansible_host": "172.29.223.11", "ansible_port": 22}]
    without = json.loads(testbed.render_inventory(hosts).split("\n", 1)[1])
    assert "testbed_registry" not in without["all"]["vars"]
    with_registry = json.loads(testbed.render_inventory(hosts, INFO).split("\n", 1)[1])
    assert with_registry["all"]["vars"]["testbed_registry"] == _registry.inventory_vars(INFO)
