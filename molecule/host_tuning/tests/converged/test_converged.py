"""The tuning after check mode, converge and a no-op re-run, on the VM's own kernel."""

from __future__ import annotations

import os
import sys

from pathlib import Path

from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from tuning import check_cpu_isolation, check_hugepages, check_modules, check_sysctls, report  # noqa: E402

testinfra_hosts = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("testbed_vms")


def test_sysctls(host) -> None:
    """Host-wide and namespaced keys live and persistent."""
    check_sysctls(host)


def test_modules(host) -> None:
    """Modules loaded with their parameters and listed for boot."""
    check_modules(host)


def test_hugepages(host) -> None:
    """The 2M pool holds the pages."""
    check_hugepages(host)


def test_cpu_isolation(host) -> None:
    """System services on CPU 0, the workload slice on CPU 1."""
    check_cpu_isolation(host)


def test_nothing_skipped_on_a_vm_and_check_mode_predicted_the_run() -> None:
    """On a VM nothing is skipped; the check run predicted every change the first real run made."""
    converge, check = report("converge"), report("check")
    assert converge["container"] is None and converge["skipped"] == [] and converge["warnings"] == []
    assert converge["fitness"]["verdict"] == "fit"
    assert check["check_mode"] is True and converge["check_mode"] is False
    # br_netfilter is not loaded in check mode, so its key is the one change that could not be predicted.
    bridge_key = "tuning: sysctl net.bridge.bridge-nf-call-arptables = 0"
    assert bridge_key in converge["changed"]
    assert check["changed"] == [line for line in converge["changed"] if line != bridge_key]
    assert check["warnings"] == ["check mode: sysctl net.bridge.bridge-nf-call-arptables cannot be predicted before the "
                                 "kernel module that provides it is loaded"]
    for expected in ("tuning: kernel module br_netfilter load", "tuning: kernel module nf_conntrack load",
                     "tuning: sysctl vm.max_map_count = 262144", "tuning: /etc/sysctl.d/90-containerhost.conf",
                     "tuning: hugepages 2048kB 0 -> 64", "tuning: init.scope AllowedCPUs=0"):
        assert expected in converge["changed"], expected
