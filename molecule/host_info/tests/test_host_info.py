"""Verify the host_info scenario against the real hosts."""

from __future__ import annotations

import ipaddress
import os

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
ALL_HOSTS = RUNNER.get_hosts("all")
VM_HOSTS = RUNNER.get_hosts("testbed_vms")
testinfra_hosts = ALL_HOSTS


def kernel_cgroup_mode(host) -> str:
    """The cgroup mode as the kernel's mounts show it, independent of the module under test."""
    top = host.run("stat -fc %T /sys/fs/cgroup").stdout.strip()
    if top == "cgroup2fs":
        return "v2"
    unified = host.run("stat -fc %T /sys/fs/cgroup/unified").stdout.strip()
    return "hybrid" if unified == "cgroup2fs" else "v1"


def host_info(host) -> dict:
    """Run the module under test on the host."""
    result = host.ansible("containerhost.platform.host_info", check=False)
    assert "host_info" in result, result
    return result["host_info"]


def global_addresses(host) -> set[ipaddress.IPv4Address]:
    """IPv4 addresses configured on the host's interfaces, loopback excluded."""
    out = host.check_output("ip -4 -o addr show scope global")
    return {ipaddress.ip_interface(line.split()[3]).ip for line in out.splitlines()}


def test_systemd_is_running(host):
    assert host.run("systemctl is-system-running").stdout.strip() == "running"
    assert host.check_output("cat /proc/1/comm") == "systemd"


def test_host_info_matches_the_kernel(host):
    facts = host_info(host)
    assert facts["systemd"]["booted"] is True
    assert facts["systemd"]["version"] >= 252
    assert facts["cgroup"]["mode"] == kernel_cgroup_mode(host)
    assert facts["cpu"]["count"] == int(host.check_output("nproc --all"))
    assert facts["kernel"]["release"] == host.check_output("uname -r")


@pytest.mark.parametrize("name", VM_HOSTS)
def test_vm_reports_cgroup_v2(name):
    vm = testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")
    facts = host_info(vm)
    assert facts["cgroup"]["mode"] == "v2"
    assert kernel_cgroup_mode(vm) == "v2"
    assert {"cpu", "memory", "pids"} <= set(facts["cgroup"]["controllers"])


def test_hosts_have_distinct_addresses():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    seen: dict[ipaddress.IPv4Address, str] = {}
    for name in ALL_HOSTS:
        for address in global_addresses(testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")):
            assert address not in seen, f"{name} and {seen[address]} share {address}"
            seen[address] = name
    assert len(set(seen.values())) == len(ALL_HOSTS)
