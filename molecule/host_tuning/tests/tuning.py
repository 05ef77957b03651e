"""Shared by the host_tuning scenario's test directories: the tuning checked in the kernel's own files."""

from __future__ import annotations

import json
import os

from pathlib import Path

FINGERPRINT_SYSCTL = "# containerhost.platform:sysctl"
FINGERPRINT_MODULES = "# containerhost.platform:kernel_module"
FINGERPRINT_ROLE = "# containerhost.platform:container_host"
RECORDS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])

# What molecule.yml declares, as the kernel prints it.
SYSCTLS = {
    "vm/max_map_count": "262144",
    "vm/swappiness": "10",
    "fs/inotify/max_user_instances": "8192",
    "net/core/somaxconn": "4096",
    "net/bridge/bridge-nf-call-arptables": "0",
}
HUGEPAGES_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
HOUSEKEEPING = "0"
RESERVED = "1"


def read(host, path: str) -> str:
    """A kernel file's content, stripped."""
    return host.file(path).content_string.strip()


def check_sysctls(host) -> None:
    """Every declared key is live in /proc/sys and in the role's sysctl.d file."""
    for key, value in SYSCTLS.items():
        assert read(host, f"/proc/sys/{key}") == value, key
    config = host.file("/etc/sysctl.d/90-containerhost.conf")
    assert config.user == "root" and config.mode == 0o644
    lines = config.content_string.splitlines()
    assert FINGERPRINT_SYSCTL in lines
    for key, value in SYSCTLS.items():
        assert f"{key.replace('/', '.')} = {value}" in lines, key


def check_modules(host) -> None:
    """br_netfilter and nf_conntrack are loaded, nf_conntrack with its parameters, and both listed for boot."""
    assert host.file("/sys/module/br_netfilter").is_directory
    assert read(host, "/sys/module/nf_conntrack/parameters/hashsize") == "32768"
    assert read(host, "/sys/module/nf_conntrack/parameters/expect_hashsize") == "1024"
    load = host.file("/etc/modules-load.d/containerhost.conf").content_string.splitlines()
    assert FINGERPRINT_MODULES in load and "br_netfilter" in load and "nf_conntrack" in load
    options = [line.split() for line in host.file("/etc/modprobe.d/containerhost.conf").content_string.splitlines()
               if line.startswith("options nf_conntrack ")]
    assert len(options) == 1 and sorted(options[0][2:]) == ["expect_hashsize=1024", "hashsize=32768"]


def check_hugepages(host) -> None:
    """64 pages of 2M in the kernel's pool, and the boot-time file and unit that keep them."""
    assert read(host, HUGEPAGES_2M) == "64"
    assert f"{HUGEPAGES_2M} 64" in host.file("/etc/containerhost/hugepages.conf").content_string.splitlines()
    assert host.service("containerhost-hugepages.service").is_enabled


def check_cpu_isolation(host) -> None:
    """system.slice, user.slice and init.scope on the housekeeping CPU, in systemd and in the kernel's cpuset files;
    a process started in the workload slice runs on the reserved CPU with memory from node 0."""
    for unit in ("system.slice", "user.slice", "init.scope"):
        assert host.run(f"systemctl show --property=AllowedCPUs --value {unit}").stdout.strip() == HOUSEKEEPING, unit
        assert read(host, f"/sys/fs/cgroup/{unit}/cpuset.cpus") == HOUSEKEEPING, unit
        assert read(host, f"/sys/fs/cgroup/{unit}/cpuset.cpus.effective") == HOUSEKEEPING, unit
    dropin = host.file("/etc/systemd/system/system.slice.d/50-containerhost-cpu-isolation.conf")
    assert FINGERPRINT_ROLE in dropin.content_string.splitlines()
    journald = host.run("systemctl show --property=MainPID --value systemd-journald.service").stdout.strip()
    assert f"Cpus_allowed_list:\t{HOUSEKEEPING}" in host.file(f"/proc/{journald}/status").content_string
    started = host.run("systemd-run --unit=ht-pinned --slice=workload.slice sleep 600")
    assert started.rc == 0, started.stderr
    try:
        assert read(host, "/sys/fs/cgroup/workload.slice/cpuset.cpus") == RESERVED
        assert read(host, "/sys/fs/cgroup/workload.slice/cpuset.mems") == "0"
        pid = host.run("systemctl show --property=MainPID --value ht-pinned.service").stdout.strip()
        assert f"Cpus_allowed_list:\t{RESERVED}" in host.file(f"/proc/{pid}/status").content_string
        assert "Mems_allowed_list:\t0" in host.file(f"/proc/{pid}/status").content_string
    finally:
        host.run("systemctl stop ht-pinned.service")


def report(name: str) -> dict:
    """The role's report recorded by converge.yml (check or converge)."""
    return json.loads((RECORDS / f"report-{name}.json").read_text(encoding="utf-8"))
