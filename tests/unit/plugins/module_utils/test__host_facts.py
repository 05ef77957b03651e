# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the host_info parsers, fed with real command output and kernel files."""

from __future__ import annotations

import os

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _host_facts as hf

FIXTURES = Path(__file__).parent / "fixtures" / "host_facts"


def fixture(name: str) -> str:
    """Text of a captured fixture file."""
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-1\n", [0, 1]),
        ("0", [0]),
        ("0-3,8-11", [0, 1, 2, 3, 8, 9, 10, 11]),
        ("0,2,4-5\n", [0, 2, 4, 5]),
        ("8-9,0-1", [0, 1, 8, 9]),
        ("", []),
        ("\n", []),
    ],
)
def test_parse_cpu_list(text, expected):
    assert hf.parse_cpu_list(text) == expected


@pytest.mark.parametrize("text", ["a-b", "3-1", "0-", "1,x"])
def test_parse_cpu_list_rejects_garbage(text):
    with pytest.raises(ValueError, match="invalid CPU list"):
        hf.parse_cpu_list(text)


@pytest.mark.parametrize(
    ("name", "key", "expected"),
    [
        ("meminfo.txt", "MemTotal", 24684096 * 1024),
        ("meminfo.txt", "Hugepagesize", 2048 * 1024),
        ("meminfo.txt", "HugePages_Total", 0),  # a count, not a size
        ("meminfo.txt", "Active(anon)", 10436 * 1024),
        ("node0-meminfo.txt", "MemTotal", 5728472 * 1024),  # "Node 0 MemTotal:" prefix stripped
    ],
)
def test_parse_meminfo(name, key, expected):
    assert hf.parse_meminfo(fixture(name))[key] == expected


def test_parse_meminfo_skips_lines_without_numbers():
    assert hf.parse_meminfo("MemTotal:  100 kB\nweird line\nFoo: bar\nCount: 3\n") == {"MemTotal": 102400, "Count": 3}


@pytest.mark.parametrize(
    ("text", "version", "full", "features_start"),
    [
        (fixture("systemctl-version-debian12.txt"), 252, "252.38-1~deb12u1", "+PAM +AUDIT +SELINUX"),
        ("systemd 252 (252.39-1~deb12u1)\n+PAM +AUDIT -GNUTLS default-hierarchy=unified\n", 252, "252.39-1~deb12u1",
         "+PAM +AUDIT -GNUTLS"),
        ("systemd 252 (252-32.el9_4)\n+PAM +AUDIT +SELINUX\n", 252, "252-32.el9_4", "+PAM"),
        ("systemd 219\n+PAM +AUDIT +SELINUX +IMA -APPARMOR\n", 219, "219", "+PAM"),
    ],
)
def test_parse_systemd_version(text, version, full, features_start):
    facts = hf.parse_systemd_version(text)
    assert facts["version"] == version
    assert facts["version_full"] == full
    assert facts["features"].startswith(features_start)
    assert "\n" not in facts["features"]


@pytest.mark.parametrize("text", ["", "bash: systemctl: command not found", "systemd x"])
def test_parse_systemd_version_unknown(text):
    assert hf.parse_systemd_version(text) == {"version": None, "version_full": None, "features": None}


@pytest.mark.parametrize(
    ("tool", "text", "expected"),
    [
        ("podman", "podman version 4.3.1\n", "4.3.1"),
        ("podman", "podman version 5.2.0-dev\n", "5.2.0-dev"),
        ("runc", fixture("runc-version.txt"), "1.1.5+ds1"),
        ("runc", "runc version 1.1.5\ncommit: v1.1.5-0-gf19387a\nspec: 1.0.2-dev\ngo: go1.19.8\n", "1.1.5"),
        ("crun", fixture("crun-version.txt"), "1.8.1"),
        ("skopeo", "skopeo version 1.9.3\n", "1.9.3"),
        ("buildah", "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)\n", "1.28.2"),
        ("docker", "Docker version 28.2.2, build e6534b4\n", "28.2.2"),
        ("docker", "Docker version 20.10.24+dfsg1, build 297e128\n", "20.10.24+dfsg1"),
        ("conmon", fixture("conmon-version.txt"), "2.1.6"),
        # podman-docker's shim: the output is podman's, so docker's version is unknown.
        ("docker", "Emulate Docker CLI using podman. Create /etc/containers/nodocker to quiet msg.\n"
                   "podman version 4.3.1\n", None),
        ("runc", "runc version spec: 1.0.0\n", None),
        ("crun", "", None),
        ("crun", "crun: error while loading shared libraries: libyajl.so.2\n", None),
    ],
)
def test_parse_tool_version(tool, text, expected):
    assert hf.parse_tool_version(tool, text) == expected


@pytest.mark.parametrize(
    ("enforce", "config", "expected"),
    [
        ("1", fixture("selinux-config-rhel9.txt"),
         {"status": "enabled", "mode": "enforcing", "config_mode": "enforcing", "policy_type": "targeted"}),
        ("0\n", "SELINUX=permissive\nSELINUXTYPE=targeted\n",
         {"status": "enabled", "mode": "permissive", "config_mode": "permissive", "policy_type": "targeted"}),
        (None, "SELINUX=disabled\nSELINUXTYPE=mls\n",
         {"status": "disabled", "mode": "disabled", "config_mode": "disabled", "policy_type": "mls"}),
        # This machine: no selinuxfs, /etc/selinux holds only semanage.conf.
        (None, None, {"status": "disabled", "mode": "disabled", "config_mode": None, "policy_type": None}),
        ("1", 'SELINUX="Enforcing"  # quoted, with a comment\n',
         {"status": "enabled", "mode": "enforcing", "config_mode": "enforcing", "policy_type": None}),
    ],
)
def test_parse_selinux(enforce, config, expected):
    assert hf.parse_selinux(enforce, config) == expected


# This machine's /sys/kernel/mm/hugepages, as read by the module.
HOST_POOLS = {
    "1048576kB": {"nr_hugepages": "0\n", "free_hugepages": "0\n", "resv_hugepages": "0\n", "surplus_hugepages": "0\n"},
    "2048kB": {"nr_hugepages": "0\n", "free_hugepages": "0\n", "resv_hugepages": "0\n", "surplus_hugepages": "0\n"},
}


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        (HOST_POOLS, {
            "2048kB": {"size_bytes": 2097152, "total": 0, "free": 0, "reserved": 0, "surplus": 0},
            "1048576kB": {"size_bytes": 1073741824, "total": 0, "free": 0, "reserved": 0, "surplus": 0},
        }),
        ({"2048kB": {"nr_hugepages": "512\n", "free_hugepages": "500\n", "resv_hugepages": "3\n",
                     "surplus_hugepages": None}},
         {"2048kB": {"size_bytes": 2097152, "total": 512, "free": 500, "reserved": 3, "surplus": None}}),
        ({}, {}),
    ],
)
def test_parse_hugepage_pools(pools, expected):
    result = hf.parse_hugepage_pools(pools)
    assert result == expected
    assert list(result) == list(expected)  # smallest pages first


def test_parse_hugepage_pools_rejects_bad_size():
    with pytest.raises(ValueError, match="2M"):
        hf.parse_hugepage_pools({"2M": {}})


@pytest.mark.parametrize(("size", "expected"), [(2097152, "2048kB"), (1073741824, "1048576kB"), (None, None)])
def test_hugepage_size_name(size, expected):
    assert hf.hugepage_size_name(size) == expected


def test_parse_mountinfo_fields_and_escapes():
    text = (
        "43 27 254:0 /run/netns /run/netns rw,relatime shared:1 master:2 - ext4 /dev/vda rw,discard\n"
        "50 27 8:1 / /mnt/my\\040disk rw - vfat /dev/sdb1 rw\n"
        "truncated line\n"
    )
    assert hf.parse_mountinfo(text) == [
        {"mountpoint": "/run/netns", "fstype": "ext4", "source": "/dev/vda", "super_options": "rw,discard"},
        {"mountpoint": "/mnt/my disk", "fstype": "vfat", "source": "/dev/sdb1", "super_options": "rw"},
    ]


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("mountinfo-hybrid.txt", "hybrid"),  # this machine
        ("mountinfo-v2.txt", "v2"),
        ("mountinfo-v1.txt", "v1"),
    ],
)
def test_parse_cgroup_mode(name, mode):
    assert hf.parse_cgroup_mode(fixture(name)) == mode


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("", "none"),
        ("22 27 0:21 / /proc rw,relatime - proc proc rw\n", "none"),
        # A cgroup2 mount hidden by a tmpfs on top of it is not what processes see.
        ("31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
         "32 31 0:29 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
         "33 32 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "v1"),
        # cgroup2 alone, away from /sys/fs/cgroup.
        ("41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n", "v2"),
    ],
)
def test_parse_cgroup_mode_edge_cases(text, mode):
    assert hf.parse_cgroup_mode(text) == mode


def test_parse_cgroup_layout_hybrid():
    layout = hf.parse_cgroup_layout(fixture("mountinfo-hybrid.txt"))
    assert layout["mountpoint"] == "/sys/fs/cgroup"
    assert layout["unified_mountpoint"] == "/sys/fs/cgroup/unified"
    assert layout["v1_mounts"]["/sys/fs/cgroup/systemd"] == ["name=systemd"]
    assert layout["v1_mounts"]["/sys/fs/cgroup/cpu"] == ["cpu"]
    assert "/sys/fs/cgroup/unified" not in layout["v1_mounts"]


def test_parse_cgroup_layout_v1_drops_mount_flags():
    layout = hf.parse_cgroup_layout(fixture("mountinfo-v1.txt"))
    assert layout["unified_mountpoint"] is None
    assert layout["v1_mounts"]["/sys/fs/cgroup/systemd"] == ["name=systemd"]
    assert layout["v1_mounts"]["/sys/fs/cgroup/cpu,cpuacct"] == ["cpuacct", "cpu"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("proc-cgroups-hybrid.txt",
         ["cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls", "perf_event", "net_prio",
          "hugetlb", "pids"]),
        ("proc-cgroups-v1.txt",
         ["cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "net_cls", "blkio", "perf_event", "hugetlb",
          "pids", "net_prio"]),  # rdma is listed but disabled
    ],
)
def test_parse_v1_controllers(name, expected):
    assert hf.parse_v1_controllers(fixture(name)) == expected


def test_cgroup_facts_hybrid_this_machine():
    facts = hf.cgroup_facts(hf.parse_cgroup_layout(fixture("mountinfo-hybrid.txt")),
                            fixture("proc-cgroups-hybrid.txt"), "")
    assert facts == {
        "mode": "hybrid",
        "mountpoint": "/sys/fs/cgroup",
        "unified_mountpoint": "/sys/fs/cgroup/unified",
        # net_cls, net_prio, perf_event and hugetlb are enabled but not mounted here.
        "controllers": ["blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"],
        "v1_hierarchies": {
            "blkio": "/sys/fs/cgroup/blkio",
            "cpu": "/sys/fs/cgroup/cpu",
            "cpuacct": "/sys/fs/cgroup/cpuacct",
            "cpuset": "/sys/fs/cgroup/cpuset",
            "devices": "/sys/fs/cgroup/devices",
            "freezer": "/sys/fs/cgroup/freezer",
            "memory": "/sys/fs/cgroup/memory",
            "name=systemd": "/sys/fs/cgroup/systemd",
            "pids": "/sys/fs/cgroup/pids",
        },
    }


def test_cgroup_facts_v1_comounted():
    facts = hf.cgroup_facts(hf.parse_cgroup_layout(fixture("mountinfo-v1.txt")), fixture("proc-cgroups-v1.txt"), None)
    assert facts["mode"] == "v1"
    assert facts["unified_mountpoint"] is None
    assert facts["controllers"] == ["blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory",
                                    "net_cls", "net_prio", "perf_event", "pids"]
    assert facts["v1_hierarchies"]["cpu"] == facts["v1_hierarchies"]["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert set(facts["v1_hierarchies"]) == {*facts["controllers"], "name=systemd"}


def test_cgroup_facts_skips_disabled_and_unknown_mount_options():
    mountinfo = (
        "24 18 0:21 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755\n"
        "40 24 0:40 / /sys/fs/cgroup/rdma rw - cgroup cgroup rw,rdma\n"  # disabled in /proc/cgroups
        "41 24 0:41 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory,future_flag\n"
    )
    facts = hf.cgroup_facts(hf.parse_cgroup_layout(mountinfo), fixture("proc-cgroups-v1.txt"), None)
    assert facts["controllers"] == ["memory"]
    assert facts["v1_hierarchies"] == {"memory": "/sys/fs/cgroup/memory"}


def test_cgroup_facts_v2_ignores_proc_cgroups():
    facts = hf.cgroup_facts(hf.parse_cgroup_layout(fixture("mountinfo-v2.txt")), fixture("proc-cgroups-v1.txt"),
                            fixture("cgroup-controllers-v2.txt"))
    assert facts == {
        "mode": "v2",
        "mountpoint": "/sys/fs/cgroup",
        "unified_mountpoint": "/sys/fs/cgroup",
        "controllers": ["cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma"],
        "v1_hierarchies": {},
    }


@pytest.mark.parametrize(
    ("cpulist", "meminfo", "expected"),
    [
        ("0-1\n", fixture("node0-meminfo.txt"),
         {"id": 0, "cpulist": "0-1", "cpus": [0, 1], "memory_total_bytes": 5728472 * 1024}),
        ("4-7,12-15\n", None, {"id": 0, "cpulist": "4-7,12-15", "cpus": [4, 5, 6, 7, 12, 13, 14, 15],
                               "memory_total_bytes": None}),
    ],
)
def test_numa_node(cpulist, meminfo, expected):
    assert hf.numa_node(0, cpulist, meminfo) == expected


@pytest.mark.parametrize(
    ("path", "existing", "expected"),
    [
        ("/var/lib/containers", {"/", "/var", "/var/lib", "/var/lib/containers"}, "/var/lib/containers"),
        ("/var/lib/docker", {"/", "/var", "/var/lib"}, "/var/lib"),
        ("/srv/a/b/c/", {"/", "/srv"}, "/srv"),
        ("/nowhere", {"/"}, "/"),
        ("/", set(), "/"),  # never loops past the root
        ("//srv/x", set(), "//"),  # POSIX keeps a leading "//"; still terminates
        ("/var//lib/../lib/docker", {"/", "/var", "/var/lib"}, "/var/lib"),
    ],
)
def test_nearest_existing_path(path, existing, expected):
    assert hf.nearest_existing_path(path, existing.__contains__) == expected


def test_statvfs_usage():
    stat = os.statvfs_result((65536, 4096, 1000, 400, 300, 50, 40, 30, 0, 255))
    assert hf.statvfs_usage(stat) == {"total_bytes": 4096000, "free_bytes": 1228800}
