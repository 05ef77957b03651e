# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.host_info module, run through main() against fake host trees."""

from __future__ import annotations

import os
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.modules import host_info

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "host_facts"
ALL_SUBSETS = {"systemd", "cgroup", "selinux", "engines", "cpu", "hugepages", "kernel", "storage", "memory"}


def fixture(name: str) -> str:
    """Text of a captured fixture file."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def zero_pool() -> dict[str, str]:
    """Counter files of an empty hugepage pool."""
    return {name: "0\n" for name in ("nr_hugepages", "free_hugepages", "resv_hugepages", "surplus_hugepages")}


# The development machine: Debian 12, cgroup hybrid, 2 CPUs on one NUMA node, no SELinux, PID 1 not systemd.
THIS_MACHINE_FILES = {
    "proc/self/mountinfo": fixture("mountinfo-hybrid.txt"),
    "proc/cgroups": fixture("proc-cgroups-hybrid.txt"),
    "proc/meminfo": fixture("meminfo.txt"),
    "proc/cmdline": "console=ttyS0 quiet reboot=k panic=1\n",
    "sys/fs/cgroup/unified/cgroup.controllers": "\n",
    "sys/devices/system/cpu/online": "0-1\n",
    "sys/devices/system/node/node0/cpulist": "0-1\n",
    "sys/devices/system/node/node0/meminfo": fixture("node0-meminfo.txt"),
    **{f"sys/kernel/mm/hugepages/hugepages-{size}/{name}": value
       for size in ("2048kB", "1048576kB") for name, value in zero_pool().items()},
    "etc/selinux/semanage.conf": "",
}
THIS_MACHINE_DIRS = ["var/lib/containers/storage"]
THIS_MACHINE_BINS = {
    "systemctl": "/usr/bin/systemctl",
    "podman": "/usr/bin/podman",
    "buildah": "/usr/bin/buildah",
    "skopeo": "/usr/bin/skopeo",
    "runc": "/usr/sbin/runc",
    "crun": "/usr/bin/crun",
    "conmon": "/usr/bin/conmon",
}
THIS_MACHINE_COMMANDS = {
    ("/usr/bin/systemctl", "--version"): (0, fixture("systemctl-version-debian12.txt"), ""),
    ("/usr/bin/systemctl", "is-system-running"): (1, "offline\n", ""),
    ("/usr/bin/podman", "--version"): (0, "podman version 4.3.1\n", ""),
    ("/usr/bin/buildah", "--version"): (0, "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)\n", ""),
    ("/usr/bin/skopeo", "--version"): (0, "skopeo version 1.9.3\n", ""),
    ("/usr/sbin/runc", "--version"): (0, fixture("runc-version.txt"), ""),
    ("/usr/bin/crun", "--version"): (0, fixture("crun-version.txt"), ""),
    ("/usr/bin/conmon", "--version"): (0, fixture("conmon-version.txt"), ""),
}


class FakeHost:
    """A host tree under tmp_path plus the tools and command outputs the module will see."""

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
        self.calls: list[t.Any] = []

    # Installed as AnsibleModule attributes: bound methods do not rebind, so there is no module argument.
    def get_bin_path(self, arg: str, *args: t.Any, **kwargs: t.Any) -> str | None:
        """Stand-in for AnsibleModule.get_bin_path."""
        return self.bins.get(arg)

    def run_command(self, args: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command: answers from the command table, refuses anything else."""
        self.calls.append(args)
        assert isinstance(args, list), f"run_command got {args!r}, not an argv list"
        assert not kwargs.get("use_unsafe_shell"), "run_command must not use a shell"
        return self.commands[tuple(args)]


@pytest.fixture
def make_host(tmp_path: Path, fake_commands, monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., FakeHost]:
    """Build a fake host and point the module at it."""

    def _make(files: dict[str, str] | None = None, dirs: list[str] | None = None, bins: dict[str, str] | None = None,
              commands: dict[tuple[str, ...], tuple[int, str, str]] | None = None) -> FakeHost:
        host = FakeHost(
            tmp_path,
            THIS_MACHINE_FILES if files is None else files,
            THIS_MACHINE_DIRS if dirs is None else dirs,
            THIS_MACHINE_BINS if bins is None else bins,
            THIS_MACHINE_COMMANDS if commands is None else commands,
        )
        monkeypatch.setattr(host_info, "_ROOT", str(tmp_path))
        fake_commands(host, host.get_bin_path)
        monkeypatch.setattr(os, "uname", lambda: os.uname_result(
            ("Linux", "vm", "6.18.44-fc-v595", "#1 SMP PREEMPT_DYNAMIC @0", "x86_64")))
        return host

    return _make


@pytest.fixture
def run_module(run_main) -> t.Callable[[dict[str, t.Any]], dict[str, t.Any]]:
    """Run host_info.main() with the given arguments and return its result; a failure raises AnsibleFailJson."""

    def _run(args: dict[str, t.Any]) -> dict[str, t.Any]:
        return run_main(host_info.main, args)

    return _run


def test_this_machine_all_facts(make_host, run_module):
    host = make_host()
    result = run_module({})
    facts = result["host_info"]
    assert result["changed"] is False
    assert "ansible_facts" not in result
    assert set(facts) == ALL_SUBSETS

    assert facts["systemd"] == {
        "booted": False,
        "version": 252,
        "version_full": "252.38-1~deb12u1",
        "features": fixture("systemctl-version-debian12.txt").splitlines()[1],
        "state": "offline",  # from a non-zero exit
    }
    assert facts["cgroup"]["mode"] == "hybrid"
    assert facts["cgroup"]["mountpoint"] == "/sys/fs/cgroup"
    assert facts["cgroup"]["unified_mountpoint"] == "/sys/fs/cgroup/unified"
    assert facts["cgroup"]["controllers"] == ["blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"]
    assert facts["selinux"] == {"status": "disabled", "mode": "disabled", "config_mode": None, "policy_type": None}

    engines = facts["engines"]
    assert list(engines) == ["podman", "docker", "buildah", "skopeo", "runc", "crun", "conmon"]
    assert engines["podman"] == {"kind": "engine", "present": True, "path": "/usr/bin/podman", "version": "4.3.1"}
    assert engines["docker"] == {"kind": "engine", "present": False, "path": None, "version": None}
    assert engines["runc"] == {"kind": "runtime", "present": True, "path": "/usr/sbin/runc", "version": "1.1.5+ds1"}
    assert engines["crun"]["version"] == "1.8.1"
    assert engines["buildah"]["version"] == "1.28.2"
    assert engines["skopeo"]["kind"] == "tool"
    assert engines["conmon"] == {"kind": "monitor", "present": True, "path": "/usr/bin/conmon", "version": "2.1.6"}

    assert facts["cpu"] == {
        "online": "0-1",
        "online_cpus": [0, 1],
        "count": 2,
        "numa_nodes": [{"id": 0, "cpulist": "0-1", "cpus": [0, 1], "memory_total_bytes": 5728472 * 1024}],
    }
    assert facts["hugepages"]["default_size"] == "2048kB"
    assert list(facts["hugepages"]["pools"]) == ["2048kB", "1048576kB"]
    assert facts["hugepages"]["pools"]["1048576kB"] == {
        "size_bytes": 1073741824, "total": 0, "free": 0, "reserved": 0, "surplus": 0}
    assert facts["kernel"] == {
        "release": "6.18.44-fc-v595",
        "version": "#1 SMP PREEMPT_DYNAMIC @0",
        "cmdline": "console=ttyS0 quiet reboot=k panic=1",
    }
    assert facts["memory"] == {"total_bytes": 24684096 * 1024, "available_bytes": 24234412 * 1024}

    storage = facts["storage"]
    assert [(s["path"], s["exists"], s["measured_at"]) for s in storage] == [
        ("/var/lib/containers", True, "/var/lib/containers"),
        ("/var/lib/docker", False, "/var/lib"),
        ("/", True, "/"),
    ]
    for entry in storage:
        assert isinstance(entry["total_bytes"], int) and entry["total_bytes"] > 0
        assert 0 <= entry["free_bytes"] <= entry["total_bytes"]

    # One --version per tool found, plus the two systemctl calls; docker is absent so never run.
    assert len(host.calls) == 2 + 6
    assert ["/usr/bin/systemctl", "is-system-running"] in host.calls


def test_subset_limits_what_is_gathered(make_host, run_module):
    host = make_host()
    result = run_module({"gather_subset": ["storage", "cgroup"], "storage_paths": ["/srv/images/", "/srv/images"]})
    assert set(result["host_info"]) == {"cgroup", "storage"}
    # Normalised and de-duplicated; /srv does not exist in the tree, so / is measured.
    assert [(s["path"], s["measured_at"]) for s in result["host_info"]["storage"]] == [("/srv/images", "/")]
    assert host.calls == []


def test_all_overrides_other_subsets(make_host, run_module):
    make_host()
    assert set(run_module({"gather_subset": ["memory", "all"]})["host_info"]) == ALL_SUBSETS


def test_check_mode_gathers_the_same(make_host, run_module):
    make_host()
    result = run_module({"gather_subset": ["kernel"], "_ansible_check_mode": True})
    assert result["changed"] is False
    assert result["host_info"]["kernel"]["release"] == "6.18.44-fc-v595"


def test_systemd_v2_selinux_host(make_host, run_module):
    """A RHEL-like host booted with systemd, cgroup v2, SELinux enforcing, two NUMA nodes and a docker shim."""
    files = {
        "proc/self/mountinfo": fixture("mountinfo-v2.txt"),
        "proc/cgroups": fixture("proc-cgroups-v1.txt"),
        "proc/meminfo": "MemTotal:  16384000 kB\nHugepagesize:  1048576 kB\n",
        "proc/cmdline": "BOOT_IMAGE=(hd0,gpt2)/vmlinuz root=/dev/mapper/rhel-root ro\n",
        "sys/fs/cgroup/cgroup.controllers": fixture("cgroup-controllers-v2.txt"),
        "sys/fs/selinux/enforce": "1",
        "etc/selinux/config": fixture("selinux-config-rhel9.txt"),
        "sys/devices/system/cpu/online": "0-3\n",
        "sys/devices/system/node/node0/cpulist": "0-1\n",
        "sys/devices/system/node/node0/meminfo": "Node 0 MemTotal:  8192000 kB\n",
        "sys/devices/system/node/node1/cpulist": "2-3\n",
        "sys/devices/system/node/node1/meminfo": "Node 1 MemTotal:  8192000 kB\n",
        "sys/devices/system/node/online": "0-1\n",
    }
    commands = {
        ("/usr/bin/systemctl", "--version"): (0, "systemd 252 (252-32.el9_4)\n+PAM +AUDIT +SELINUX\n", ""),
        ("/usr/bin/systemctl", "is-system-running"): (1, "degraded\n", ""),
        ("/usr/bin/docker", "--version"): (0, "podman version 4.9.4\n", "Emulate Docker CLI using podman.\n"),
    }
    make_host(files=files, dirs=["run/systemd/system"],
              bins={"systemctl": "/usr/bin/systemctl", "docker": "/usr/bin/docker"}, commands=commands)
    facts = run_module({"storage_paths": ["/var/lib/containers"]})["host_info"]
    assert facts["systemd"]["booted"] is True
    assert facts["systemd"]["state"] == "degraded"
    assert facts["cgroup"]["mode"] == "v2"
    assert facts["cgroup"]["controllers"] == ["cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma"]
    assert facts["selinux"] == {"status": "enabled", "mode": "enforcing", "config_mode": "enforcing",
                                "policy_type": "targeted"}
    assert facts["engines"]["docker"] == {"kind": "engine", "present": True, "path": "/usr/bin/docker", "version": None}
    assert facts["engines"]["podman"]["present"] is False
    assert [(n["id"], n["cpus"], n["memory_total_bytes"]) for n in facts["cpu"]["numa_nodes"]] == [
        (0, [0, 1], 8192000 * 1024), (1, [2, 3], 8192000 * 1024)]
    assert facts["hugepages"] == {"default_size": "1048576kB", "pools": {}}
    assert facts["storage"][0]["measured_at"] == "/"


def test_no_numa_directory_means_one_node(make_host, run_module):
    files = {k: v for k, v in THIS_MACHINE_FILES.items() if not k.startswith("sys/devices/system/node/")}
    files["sys/devices/system/cpu/online"] = "0-3,8-11\n"
    make_host(files=files)
    cpu = run_module({"gather_subset": ["cpu"]})["host_info"]["cpu"]
    assert cpu["count"] == 8
    assert cpu["numa_nodes"] == [{"id": 0, "cpulist": "0-3,8-11", "cpus": [0, 1, 2, 3, 8, 9, 10, 11],
                                  "memory_total_bytes": 24684096 * 1024}]


def test_no_tools_at_all(make_host, run_module):
    host = make_host(bins={}, commands={})
    facts = run_module({"gather_subset": ["engines", "systemd"]})["host_info"]
    assert all(entry["present"] is False and entry["version"] is None for entry in facts["engines"].values())
    assert facts["systemd"] == {"booted": False, "version": None, "version_full": None, "features": None,
                                "state": None}
    assert host.calls == []


@pytest.mark.parametrize(
    ("args", "field", "detail"),
    [
        ({"gather_subset": ["cgroups"]}, "gather_subset", "cgroups"),
        ({"gather_subset": ["all", "!hardware"]}, "gather_subset", "!hardware"),
        ({"gather_subset": "disks"}, "gather_subset", "disks"),
        ({"storage_paths": ["var/lib/containers"]}, "storage_paths", "var/lib/containers"),
        ({"bogus": 1}, "bogus", "bogus"),
    ],
)
def test_bad_arguments_fail_naming_the_field(make_host, set_module_args, module_exits, args, field, detail):
    host = make_host()
    set_module_args(args)
    with pytest.raises(module_exits.fail) as exc_info:
        host_info.main()
    msg = exc_info.value.result["msg"]
    assert field in msg
    assert detail in msg
    if field == "gather_subset":
        assert "all, systemd, cgroup, selinux, engines, cpu, hugepages, kernel, storage, memory" in msg
    assert host.calls == []


def test_malformed_kernel_file_fails_naming_the_group(make_host, set_module_args, module_exits):
    files = dict(THIS_MACHINE_FILES)
    files["sys/devices/system/cpu/online"] = "0-x\n"
    make_host(files=files)
    set_module_args({"gather_subset": ["cpu"]})
    with pytest.raises(module_exits.fail) as exc_info:
        host_info.main()
    assert "cpu facts" in exc_info.value.result["msg"]
    assert "'0-x'" in exc_info.value.result["msg"]
