# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.node_fitness module, run through main() against fake host trees."""

from __future__ import annotations

import os
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.modules import host_info, node_fitness

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "host_facts"
RELEASE = "6.1.0-37-amd64"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def pool_files(base: str, total: int, free: int, system: bool = True) -> dict[str, str]:
    """Counter files of a hugepage pool."""
    files = {f"{base}/nr_hugepages": f"{total}\n", f"{base}/free_hugepages": f"{free}\n",
             f"{base}/surplus_hugepages": "0\n"}
    if system:
        files[f"{base}/resv_hugepages"] = "0\n"
    return files


# A VM of the testbed: systemd booted, cgroup v2, no SELinux, 2 CPUs on 2 NUMA nodes, 2M and 1G pools.
VM_FILES = {
    "proc/self/mountinfo": fixture("mountinfo-v2.txt"),
    "proc/cgroups": fixture("proc-cgroups-v1.txt"),
    "proc/meminfo": fixture("meminfo.txt"),
    "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro console=ttyS0\n",
    "proc/modules": "overlay 151552 0 - Live 0x0000000000000000\nbridge 311296 0 - Live 0x0000000000000000\n",
    f"lib/modules/{RELEASE}/modules.builtin": "kernel/drivers/block/loop.ko\n",
    "proc/sys/net/ipv4/ip_forward": "1\n",
    "proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
    "sys/fs/cgroup/cgroup.controllers": fixture("cgroup-controllers-v2.txt"),
    "sys/devices/system/cpu/online": "0-1\n",
    "sys/devices/system/node/node0/cpulist": "0\n",
    "sys/devices/system/node/node0/meminfo": "Node 0 MemTotal:  1000000 kB\n",
    "sys/devices/system/node/node1/cpulist": "1\n",
    "sys/devices/system/node/node1/meminfo": "Node 1 MemTotal:  1000000 kB\n",
    **pool_files("sys/kernel/mm/hugepages/hugepages-2048kB", 64, 64),
    **pool_files("sys/kernel/mm/hugepages/hugepages-1048576kB", 0, 0),
    **pool_files("sys/devices/system/node/node0/hugepages/hugepages-2048kB", 32, 32, system=False),
    **pool_files("sys/devices/system/node/node1/hugepages/hugepages-2048kB", 32, 30, system=False),
    **pool_files("sys/devices/system/node/node0/hugepages/hugepages-1048576kB", 0, 0, system=False),
}
VM_DIRS = ["var/lib/containers", "run/systemd/system", "sys/module/overlay", "sys/module/vfio"]
VM_BINS = {"podman": "/usr/bin/podman", "crun": "/usr/bin/crun", "runc": "/usr/sbin/runc",
           "timedatectl": "/usr/bin/timedatectl"}
VM_COMMANDS = {
    ("/usr/bin/podman", "--version"): (0, "podman version 4.3.1\n", ""),
    ("/usr/bin/crun", "--version"): (0, fixture("crun-version.txt"), ""),
    ("/usr/sbin/runc", "--version"): (0, fixture("runc-version.txt"), ""),
    ("/usr/bin/timedatectl", "show", "-p", "NTPSynchronized"): (0, "NTPSynchronized=yes\n", ""),
}

# Everything the VM offers.
FIT_REQUIREMENTS = {
    "kernel_min": "5.10",
    "cgroup_v2": True,
    "selinux": "disabled",
    "hugepages_free": [{"size": "2M", "count": 64}, {"size": "2M", "count": 30, "node": 1}],
    "numa_nodes_min": 2,
    "cpus_min": 2,
    "memory_min_mb": 1024,
    "engines": ["podman>=4.0", "crun", "runc>=1.1"],
    "disk_free": [{"min_gb": 0}],
    "time_synced": True,
    "kernel_modules": ["overlay", "loop", "vfio"],
    "sysctls": {"net.ipv4.ip_forward": 1, "net.ipv4.ip_local_port_range": [32768, 60999]},
}


class FakeHost:
    """A host tree under tmp_path plus the tools and command outputs the module sees."""

    def __init__(self, root: Path, files: dict[str, str], dirs: list[str], bins: dict[str, str],
                 commands: dict[tuple[str, ...], tuple[int, str, str]]) -> None:
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        for rel in dirs:
            (root / rel).mkdir(parents=True, exist_ok=True)
        self.root = root
        self.bins = bins
        self.commands = commands
        self.calls: list[list[str]] = []

    def get_bin_path(self, arg: str, *args: t.Any, **kwargs: t.Any) -> str | None:
        return self.bins.get(arg)

    def run_command(self, args: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        self.calls.append(args)
        assert isinstance(args, list), f"run_command got {args!r}, not an argv list"
        assert not kwargs.get("use_unsafe_shell")
        return self.commands[tuple(args)]


@pytest.fixture
def make_host(tmp_path: Path, fake_commands, monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., FakeHost]:
    """Build a fake host (the VM unless told otherwise) and point both fact modules at it."""

    def _make(files: dict[str, str] | None = None, dirs: list[str] | None = None, bins: dict[str, str] | None = None,
              commands: dict[tuple[str, ...], tuple[int, str, str]] | None = None) -> FakeHost:
        host = FakeHost(tmp_path, VM_FILES if files is None else files, VM_DIRS if dirs is None else dirs,
                        VM_BINS if bins is None else bins, VM_COMMANDS if commands is None else commands)
        monkeypatch.setattr(node_fitness, "_ROOT", str(tmp_path))
        monkeypatch.setattr(host_info, "_ROOT", str(tmp_path))
        fake_commands(host, host.get_bin_path)
        monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "vm1", RELEASE, "#1 SMP Debian", "x86_64")))
        return host

    return _make


@pytest.fixture
def run(run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run node_fitness.main(); ``fail=True`` expects a failure."""

    def _run(fail: bool = False, **args: t.Any) -> dict[str, t.Any]:
        return run_main(node_fitness.main, args, fail=fail)

    return _run


def test_vm_meets_everything(make_host, run):
    host = make_host()
    result = run(requirements=FIT_REQUIREMENTS)
    assert result["changed"] is False
    fitness = result["fitness"]
    assert fitness["verdict"] == "fit", fitness["checks"]
    assert fitness["failed"] == []
    assert len(fitness["checks"]) == 18
    assert result["msg"] == "fit: 18 checks passed"
    facts = result["facts"]
    assert facts["container"] is None
    assert facts["time_sync"] == {"synced": True, "source": "timedatectl",
                                  "evidence": [{"source": "timedatectl", "synced": True}]}
    assert facts["kernel_modules"] == {"overlay": "loaded", "loop": "built-in", "vfio": "built-in"}
    assert facts["sysctls"] == {"net.ipv4.ip_forward": "1", "net.ipv4.ip_local_port_range": "32768 60999"}
    assert facts["hugepages_nodes"] == [
        {"id": 0, "pools": {
            "2048kB": {"size_bytes": 2097152, "total": 32, "free": 32, "reserved": None, "surplus": 0},
            "1048576kB": {"size_bytes": 1073741824, "total": 0, "free": 0, "reserved": None, "surplus": 0}}},
        {"id": 1, "pools": {"2048kB": {"size_bytes": 2097152, "total": 32, "free": 30, "reserved": None,
                                       "surplus": 0}}},
    ]
    assert [s["path"] for s in facts["storage"]] == ["/var/lib/containers"]
    # Three --version calls and one timedatectl, nothing else.
    assert sorted(call[0] for call in host.calls) == ["/usr/bin/crun", "/usr/bin/podman", "/usr/bin/timedatectl",
                                                      "/usr/sbin/runc"]


def test_facts_are_host_info_facts(make_host, run, set_module_args, module_exits):
    make_host()
    facts = run(requirements=FIT_REQUIREMENTS)["facts"]
    set_module_args({"storage_paths": ["/var/lib/containers"]})
    with pytest.raises(module_exits.exit) as exc_info:
        host_info.main()
    gathered = exc_info.value.result["host_info"]
    shared = {"cgroup", "selinux", "engines", "cpu", "hugepages", "kernel", "storage", "memory"}
    assert shared <= set(facts)
    for group in shared:
        if group == "engines":
            # node_fitness asks the same tools; absent ones are reported the same way.
            assert facts[group] == gathered[group]
        elif group == "storage":
            assert [dict(s, free_bytes=0) for s in facts[group]] == [dict(s, free_bytes=0) for s in gathered[group]]
        else:
            assert facts[group] == gathered[group], group


def test_testbed_container_is_unfit_with_the_exact_items(make_host, run):
    """A container host of the testbed: podman, the machine's kernel and cgroups, no hugepages, no time service."""
    files = {key: value for key, value in VM_FILES.items() if "hugepages" not in key}
    files.update({
        "run/.containerenv": "",
        "run/systemd/container": "podman\n",
        "proc/self/mountinfo": fixture("mountinfo-hybrid.txt"),
        "proc/cgroups": fixture("proc-cgroups-hybrid.txt"),
        **pool_files("sys/kernel/mm/hugepages/hugepages-2048kB", 0, 0),
    })
    commands = dict(VM_COMMANDS)
    commands[("/usr/bin/timedatectl", "show", "-p", "NTPSynchronized")] = (
        1, "", "System has not been booted with systemd as init system (PID 1). Can't operate.\n")
    make_host(files=files, commands=commands)
    result = run(requirements={
        "kernel_min": "5.10", "cgroup_v2": True, "hugepages_free": [{"size": "2M", "count": 512}],
        "engines": ["podman>=4.0", "docker"], "time_synced": True, "kernel_modules": ["overlay", "br_netfilter"],
    })
    fitness = result["fitness"]
    assert fitness["verdict"] == "unfit"
    assert fitness["failed"] == ["cgroup_v2", "hugepages_free[2048kB]", "engines[docker]", "time_synced",
                                 "kernel_modules[br_netfilter]"]
    assert result["facts"]["container"] == "podman"
    assert result["facts"]["time_sync"] == {"synced": None, "source": None,
                                            "evidence": [{"source": "timedatectl", "synced": None}]}
    checks = {check["name"]: check for check in fitness["checks"]}
    assert checks["cgroup_v2"]["actual"] == "hybrid"
    assert checks["hugepages_free[2048kB]"]["fix"] == (
        "this is a container (podman), which shares its host's kernel: on the host, reserve 512 more pages with "
        "containerhost.platform.hugepages pools: [{size: 2M, count: 512}]")
    assert checks["kernel_modules[br_netfilter]"]["actual"] == "not loaded"
    assert result["msg"] == ("unfit: 5 of 8 checks failed: cgroup_v2, hugepages_free[2048kB], engines[docker], "
                             "time_synced, kernel_modules[br_netfilter]")


def test_fail_on_unfit_fails_with_the_verdict(make_host, run):
    make_host()
    result = run(requirements={"cpus_min": 64, "cgroup_v2": True}, fail_on_unfit=True, fail=True)
    assert result["msg"] == "unfit: 1 of 2 checks failed: cpus_min"
    assert result["fitness"]["failed"] == ["cpus_min"]
    assert result["fitness"]["checks"][1]["fix"].startswith("2 CPU(s) are online: give the host at least 64")
    assert result["changed"] is False


def test_fail_on_unfit_passes_a_fit_host(make_host, run):
    make_host()
    result = run(requirements={"cpus_min": 2}, fail_on_unfit=True)
    assert result["fitness"]["verdict"] == "fit"


def test_only_what_is_required_is_gathered(make_host, run):
    host = make_host()
    result = run(requirements={"cgroup_v2": True})
    assert set(result["facts"]) == {"cgroup", "kernel", "container"}
    assert host.calls == []


def test_check_mode_gives_the_same_verdict(make_host, run):
    make_host()
    result = run(requirements={"numa_nodes_min": 3}, _ansible_check_mode=True)
    assert result["fitness"]["failed"] == ["numa_nodes_min"]
    assert result["fitness"]["checks"][0]["actual"] == 2


def test_time_sync_sources(make_host, run):
    bins = {"timedatectl": "/usr/bin/timedatectl", "chronyc": "/usr/bin/chronyc", "ntpq": "/usr/sbin/ntpq"}
    commands = {
        ("/usr/bin/timedatectl", "show", "-p", "NTPSynchronized"): (0, "NTPSynchronized=no\n", ""),
        ("/usr/bin/chronyc", "-n", "tracking"): (0, "Reference ID    : C0000201 (192.0.2.1)\nLeap status     : Normal\n", ""),
        ("/usr/sbin/ntpq", "-pn"): (1, "", "ntpq: read: Connection refused\n"),
    }
    make_host(bins=bins, commands=commands)
    result = run(requirements={"time_synced": True})
    assert result["facts"]["time_sync"] == {
        "synced": True, "source": "chrony",
        "evidence": [{"source": "timedatectl", "synced": False}, {"source": "chrony", "synced": True},
                     {"source": "ntpd", "synced": None}]}
    assert result["fitness"]["verdict"] == "fit"


def test_timesyncd_file_counts_as_synchronised(make_host, run):
    files = dict(VM_FILES)
    files["run/systemd/timesync/synchronized"] = ""
    make_host(files=files, bins={}, commands={})
    result = run(requirements={"time_synced": True})
    assert result["facts"]["time_sync"]["source"] == "systemd-timesyncd"
    assert result["fitness"]["verdict"] == "fit"


def test_missing_sysctl_and_module(make_host, run):
    make_host()
    result = run(requirements={"sysctls": {"net.bridge.bridge-nf-call-iptables": 1}, "kernel_modules": ["br-netfilter"]})
    assert result["facts"]["sysctls"] == {"net.bridge.bridge-nf-call-iptables": None}
    assert result["facts"]["kernel_modules"] == {"br_netfilter": None}
    assert result["fitness"]["failed"] == ["kernel_modules[br_netfilter]", "sysctls[net.bridge.bridge-nf-call-iptables]"]


def test_disk_free_default_path_and_a_missing_path(make_host, run):
    make_host()
    result = run(requirements={"disk_free": [{"min_gb": 0.0}, {"path": "/srv/images/", "min_gb": 100000}]})
    storage = result["facts"]["storage"]
    assert [(s["path"], s["exists"], s["measured_at"]) for s in storage] == [
        ("/var/lib/containers", True, "/var/lib/containers"), ("/srv/images", False, "/")]
    assert result["fitness"]["failed"] == ["disk_free[/srv/images]"]


@pytest.mark.parametrize(
    ("requirements", "fragments"),
    [
        ({"kernel_min": "latest"}, ["requirements.kernel_min: 'latest' is not a kernel version"]),
        ({"engines": ["podman>>4"]}, ["requirements.engines[0]: 'podman>>4' is not a tool requirement"]),
        ({"hugepages_free": [{"size": "2048", "count": 1}]}, ["requirements.hugepages_free[0].size"]),
        ({"selinux": "on"}, ["selinux", "enforcing, permissive, enabled, disabled, any"]),
        ({"hugepages_free": [{"size": "2M"}]}, ["count"]),
        ({"disk_free": [{"path": "/"}]}, ["min_gb"]),
        ({"cpu_min": 4}, ["cpu_min"]),
    ],
)
def test_bad_requirements_fail_naming_the_field(make_host, run, requirements, fragments):
    host = make_host()
    result = run(requirements=requirements, fail=True)
    for fragment in fragments:
        assert fragment in result["msg"]
    assert host.calls == []
