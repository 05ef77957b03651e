# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""schemas/flannel.json: good and bad documents, and what is particular to the role (what every role keeps to is
checked by test_role_conventions.py)."""

from __future__ import annotations

import typing as t

import pytest

from _roles import COLLECTION_ROOT, file_tasks, issue_paths, load_yaml, role_document, role_tasks, written_templates

SCHEMA_PATH = COLLECTION_ROOT / "schemas" / "flannel.json"
ROLE = COLLECTION_ROOT / "roles" / "flannel"
GOOD_SHA256 = "sha256:" + "4f" * 32


def document(**overrides: t.Any) -> dict[str, t.Any]:
    """The templated role defaults (_roles.TEMPLATED_DEFAULTS) with some variables replaced."""
    return role_document(ROLE, **overrides)


def test_the_cross_field_rules_are_documented(schema: dict[str, t.Any]) -> None:
    """The schema has cross-field rules (allOf), each with a title and description (checked for every role by
    test_role_conventions.py)."""
    assert schema["allOf"]


@pytest.mark.parametrize(("overrides", "path"), [
    ({"flannel_mode": "kube"}, "flannel_mode"),
    ({"flannel_group": "overlay-nodes"}, "flannel_group"),
    ({"flannel_etcd_endpoints": ["10.0.0.11:2379"]}, "flannel_etcd_endpoints"),
    ({"flannel_etcd_endpoints": ["https://a:2379,https://b:2379"]}, "flannel_etcd_endpoints"),
    ({"flannel_etcd_ca_cert": "etc/etcd/pki/ca.crt"}, "flannel_etcd_ca_cert"),
    ({"flannel_etcd_pki_dir": "relative/pki"}, "flannel_etcd_pki_dir"),
    ({"flannel_prefix": "coreos.com/network"}, "flannel_prefix"),
    ({"flannel_etcd_api": "v4"}, "flannel_etcd_api"),
    ({"flannel_network": "10.5.0.0"}, "flannel_network"),
    ({"flannel_network": "10.5.0.0/30"}, "flannel_network"),
    ({"flannel_network": "300.5.0.0/16"}, "flannel_network"),
    ({"flannel_subnet_len": 1}, "flannel_subnet_len"),
    ({"flannel_subnet_len": 31}, "flannel_subnet_len"),
    ({"flannel_subnet_min": "10.5.1"}, "flannel_subnet_min"),
    ({"flannel_backend_type": "wireguard"}, "flannel_backend_type"),
    ({"flannel_backend_vni": 16777216}, "flannel_backend_vni"),
    ({"flannel_backend_port": 0}, "flannel_backend_port"),
    ({"flannel_link_mtu": 500}, "flannel_link_mtu"),
    ({"flannel_overlay_mtu": 67}, "flannel_overlay_mtu"),
    ({"flannel_public_ip": "h1.example"}, "flannel_public_ip"),
    ({"flannel_interface": "a-very-long-interface"}, "flannel_interface"),
    ({"flannel_install": "tarball"}, "flannel_install"),
    ({"flannel_url": "downloads.example/flanneld"}, "flannel_url"),
    ({"flannel_checksum": "md5:0123456789abcdef0123456789abcdef"}, "flannel_checksum"),
    ({"flannel_checksum": "sha256:abc"}, "flannel_checksum"),
    ({"flannel_binary_path": "flanneld"}, "flannel_binary_path"),
    ({"flannel_image": "flanneld"}, "flannel_image"),
    ({"flannel_extra_args": ["v=2"]}, "flannel_extra_args"),
    ({"flannel_lease_timeout": 1}, "flannel_lease_timeout"),
    ({"flannel_engine": "containerd"}, "flannel_engine"),
    ({"flannel_engine_network": "-flannel"}, "flannel_engine_network"),
    ({"flannel_engine_bridge": "flannel-bridge-0"}, "flannel_engine_bridge"),
    ({"flannel_engine_bridge": ""}, "flannel_engine_bridge"),
    ({"flannel_ip_masq": "yes"}, "flannel_ip_masq"),
])
def test_bad_values_are_refused_by_path(schema: dict[str, t.Any], overrides: dict[str, t.Any], path: str) -> None:
    """Each bad value is reported under its variable."""
    paths = issue_paths(schema, document(**overrides))
    assert paths and all(p.startswith(path) for p in paths), paths


def test_daemonless_mode_needs_plain_vxlan(schema: dict[str, t.Any]) -> None:
    """The role programs VXLAN devices itself only for vxlan without direct routing; flanneld takes every backend."""
    assert issue_paths(schema, document(flannel_backend_type="host-gw")) == ["flannel_backend_type"]
    assert issue_paths(schema, document(flannel_backend_direct_routing=True)) == ["flannel_backend_direct_routing"]
    flanneld = {"flannel_mode": "flanneld", "flannel_url": "http://172.29.220.1:5490/flanneld",
                "flannel_checksum": GOOD_SHA256}
    assert issue_paths(schema, document(**flanneld, flannel_backend_type="host-gw")) == []
    assert issue_paths(schema, document(**flanneld, flannel_backend_direct_routing=True)) == []


def test_a_download_needs_url_and_checksum(schema: dict[str, t.Any]) -> None:
    """flanneld from a URL is refused without its checksum; the package and daemonless modes need neither."""
    url = "http://172.29.220.1:5490/flanneld"
    assert issue_paths(schema, document(flannel_mode="flanneld", flannel_url=url)) == ["flannel_checksum"]
    assert issue_paths(schema, document(flannel_mode="flanneld", flannel_checksum=GOOD_SHA256)) == ["flannel_url"]
    assert issue_paths(schema, document(flannel_mode="flanneld", flannel_url=url, flannel_checksum=GOOD_SHA256)) == []
    assert issue_paths(schema, document(flannel_mode="flanneld", flannel_install="package")) == []
    assert issue_paths(schema, document(flannel_checksum="sha512:" + "ab" * 64)) == []


def test_a_system_container_needs_an_image(schema: dict[str, t.Any]) -> None:
    """flanneld as a system container is refused without its image."""
    sc = {"flannel_mode": "flanneld", "flannel_install": "system_container"}
    assert issue_paths(schema, document(**sc)) == ["flannel_image"]
    assert issue_paths(schema, document(**sc, flannel_image="registry.example:5000/infra/flanneld:v0.26.7")) == []


def test_unknown_variable_is_refused(schema: dict[str, t.Any]) -> None:
    """A misspelt variable is reported instead of being ignored."""
    assert issue_paths(schema, document(flannel_mtu=1450))


# The conventions every role keeps (handlers/main.yml included) are checked by test_role_conventions.py.

def test_every_template_is_written_to_hosts() -> None:
    """Each template is written to hosts by the template module (so each carries ansible_managed and the
    fingerprint), and the role has handlers."""
    assert written_templates(ROLE) == {path.name for path in (ROLE / "templates").iterdir()}
    assert load_yaml(ROLE / "handlers" / "main.yml")


def test_the_network_is_checked_before_any_host_changes() -> None:
    """After validation, the first task that reaches a host is flannel_network, once, stopping every host on failure."""
    config = load_yaml(ROLE / "tasks" / "config.yml")
    assert [task["name"] for task in role_tasks(ROLE)][:4] == [
        "Flannel | Validate | Variables against schemas/flannel.json",
        "Flannel | Validate | The host is in the overlay's group and etcd is reachable through a known host",
        # Only in check mode (a read): etcd may not be set up yet on bare hosts.
        "Flannel | Config | Look for the etcd client certificate in check mode",
        "Flannel | Config | Check and write the overlay's configuration",
    ]
    assert config[0]["when"] == "ansible_check_mode" and "ansible.builtin.stat" in config[0]
    block = config[1]
    assert block["any_errors_fatal"] is True
    task = block["block"][0]
    assert task["run_once"] is True
    assert task["containerhost.platform.flannel_network"]["expected_nodes"] == "{{ groups[flannel_group] | length }}"
    assert task["containerhost.platform.flannel_network"]["link_mtu"] == "{{ flannel_link_mtu }}"


def test_flanneld_unit_orders_after_etcd_and_before_the_engines() -> None:
    """The unit template: notify type, after etcd and the network, before podman and docker, the lease file path."""
    unit = (ROLE / "templates" / "flanneld.service.j2").read_text(encoding="utf-8")
    assert "After=network-online.target etcd.service\n" in unit
    assert "Wants=network-online.target\n" in unit
    assert "Before={{ __flannel_engine_units | join(' ') }}\n" in unit
    assert "Type=notify\n" in unit
    engines = load_yaml(ROLE / "vars" / "main.yml")["__flannel_engine_units"]
    assert {"podman.service", "docker.service"} <= set(engines)
    args = load_yaml(ROLE / "vars" / "main.yml")["__flannel_flanneld_args"]
    for flag in ("-etcd-endpoints=", "-etcd-prefix=", "-etcd-cafile=", "-etcd-certfile=", "-etcd-keyfile=",
                 "-public-ip=", "-subnet-file=", "-iface=", "-ip-masq"):
        assert f"'{flag}" in args, flag


def test_the_download_is_checked() -> None:
    """get_url carries the checksum, so a mismatch is refused before the binary is replaced."""
    tasks = [task for task in file_tasks(ROLE / "tasks" / "flanneld.yml") if "ansible.builtin.get_url" in task]
    assert len(tasks) == 1
    assert tasks[0]["ansible.builtin.get_url"]["checksum"] == "{{ flannel_checksum }}"
    assert tasks[0]["ansible.builtin.get_url"]["mode"] == "0755"
