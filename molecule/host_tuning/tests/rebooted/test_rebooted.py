"""After the VM rebooted: the same tuning, brought back by the host itself."""

from __future__ import annotations

import os
import sys

from pathlib import Path

from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from tuning import check_cpu_isolation, check_hugepages, check_modules, check_sysctls, read  # noqa: E402

testinfra_hosts = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("testbed_vms")


def test_the_vm_rebooted(host) -> None:
    """A new boot id, and the hugepages unit ran in this boot."""
    assert read(host, "/proc/sys/kernel/random/boot_id") != read(host, "/var/lib/ht-molecule/boot_id_before")
    unit = host.service("containerhost-hugepages.service").systemd_properties
    assert unit["Result"] == "success" and unit["ExecMainStatus"] == "0"
    # It ran in this boot (a unit that did not run has no start time).
    assert unit["ExecMainStartTimestampMonotonic"] != "0"


def test_sysctls(host) -> None:
    """sysctl.d applied at boot."""
    check_sysctls(host)


def test_modules(host) -> None:
    """modules-load.d and modprobe.d applied at boot."""
    check_modules(host)


def test_hugepages(host) -> None:
    """containerhost-hugepages.service filled the pool at boot."""
    check_hugepages(host)


def test_cpu_isolation(host) -> None:
    """The drop-ins and the workload slice applied at boot."""
    check_cpu_isolation(host)
