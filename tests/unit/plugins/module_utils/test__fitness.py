# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for node fitness: requirement validation, the extra fact parsers and the verdict with its fixes."""

from __future__ import annotations

import copy
import typing as t

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _fitness as fit

GIB = 1024 ** 3

# A host that meets every requirement of FULL below.
GOOD: dict[str, t.Any] = {
    "container": None,
    "kernel": {"release": "6.1.0-37-amd64", "version": "#1 SMP", "cmdline": "BOOT_IMAGE=/vmlinuz ro quiet"},
    "cgroup": {"mode": "v2", "mountpoint": "/sys/fs/cgroup", "unified_mountpoint": "/sys/fs/cgroup",
               "controllers": ["cpu", "memory"], "v1_hierarchies": {}},
    "selinux": {"status": "enabled", "mode": "enforcing", "config_mode": "enforcing", "policy_type": "targeted"},
    "hugepages": {"default_size": "2048kB", "pools": {
        "2048kB": {"size_bytes": 2097152, "total": 600, "free": 560, "reserved": 10, "surplus": 0},
        "1048576kB": {"size_bytes": 1073741824, "total": 2, "free": 2, "reserved": 0, "surplus": 0}}},
    "hugepages_nodes": [
        {"id": 0, "pools": {"2048kB": {"size_bytes": 2097152, "total": 300, "free": 300, "reserved": None, "surplus": 0},
                            "1048576kB": {"size_bytes": 1073741824, "total": 2, "free": 2, "reserved": None,
                                          "surplus": 0}}},
        {"id": 1, "pools": {"2048kB": {"size_bytes": 2097152, "total": 300, "free": 260, "reserved": None,
                                       "surplus": 0}}},
    ],
    "cpu": {"online": "0-7", "online_cpus": list(range(8)), "count": 8,
            "numa_nodes": [{"id": 0, "cpulist": "0-3", "cpus": [0, 1, 2, 3], "memory_total_bytes": 8 * GIB},
                           {"id": 1, "cpulist": "4-7", "cpus": [4, 5, 6, 7], "memory_total_bytes": 8 * GIB}]},
    "memory": {"total_bytes": 16 * GIB, "available_bytes": 12 * GIB},
    "engines": {
        "podman": {"kind": "engine", "present": True, "path": "/usr/bin/podman", "version": "4.3.1"},
        "docker": {"kind": "engine", "present": False, "path": None, "version": None},
        "crun": {"kind": "runtime", "present": True, "path": "/usr/bin/crun", "version": "1.8.1"},
        "runc": {"kind": "runtime", "present": True, "path": "/usr/sbin/runc", "version": "1.1.5+ds1"},
    },
    "storage": [{"path": "/var/lib/containers", "exists": True, "measured_at": "/var/lib/containers",
                 "total_bytes": 100 * GIB, "free_bytes": 40 * GIB}],
    "time_sync": {"synced": True, "source": "timedatectl", "evidence": [{"source": "timedatectl", "synced": True}]},
    "kernel_modules": {"overlay": "loaded", "br_netfilter": "built-in"},
    "sysctls": {"net.ipv4.ip_forward": "1", "net.ipv4.ip_local_port_range": "32768 60999"},
}

FULL: dict[str, t.Any] = {
    "kernel_min": "5.10", "cgroup_v2": True, "selinux": "enforcing",
    "hugepages_free": [{"size": "2M", "count": 512, "node": None}, {"size": "1G", "count": 2, "node": 0},
                       {"size": "2048kB", "count": 200, "node": 1}],
    "numa_nodes_min": 2, "cpus_min": 4, "memory_min_mb": 8192,
    "engines": ["podman>=4.0", "crun", "runc>=1.1"],
    "disk_free": [{"path": "/var/lib/containers", "min_gb": 20}],
    "time_synced": True,
    "kernel_modules": ["overlay", "br-netfilter"],
    "sysctls": {"net.ipv4.ip_forward": 1, "net.ipv4.ip_local_port_range": [32768, 60999]},
}

CHECK_NAMES = [
    "kernel_min", "cgroup_v2", "selinux", "hugepages_free[2048kB]", "hugepages_free[1048576kB node 0]",
    "hugepages_free[2048kB node 1]", "numa_nodes_min", "cpus_min", "memory_min_mb", "engines[podman>=4.0]",
    "engines[crun]", "engines[runc>=1.1]", "disk_free[/var/lib/containers]", "time_synced",
    "kernel_modules[overlay]", "kernel_modules[br_netfilter]", "sysctls[net.ipv4.ip_forward]",
    "sysctls[net.ipv4.ip_local_port_range]",
]


def verdict(requirements: dict[str, t.Any], facts: dict[str, t.Any]) -> dict[str, t.Any]:
    """Validate and evaluate, as the module does."""
    return fit.evaluate(fit.validate_requirements(requirements), facts)


def changed_facts(**changes: t.Any) -> dict[str, t.Any]:
    """GOOD with top-level groups replaced or, for dotted keys (a__b), one value inside a group replaced."""
    facts = copy.deepcopy(GOOD)
    for key, value in changes.items():
        group, sep, inner = key.partition("__")
        if sep:
            facts[group][inner] = value
        else:
            facts[key] = value
    return facts


def only(result: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    """The one check of that name."""
    found = [check for check in result["checks"] if check["name"] == name]
    assert len(found) == 1, result["checks"]
    return found[0]


# ---- versions and specs

@pytest.mark.parametrize(
    ("text", "expected"),
    [("6.1.0-37-amd64", (6, 1, 0)), ("5.10", (5, 10)), ("4.3.1", (4, 3, 1)), ("1.1.5+ds1", (1, 1, 5)),
     ("v2.1.6", (2, 1, 6)), ("28.2.2", (28, 2, 2)), ("6.18.44-fc-v595", (6, 18, 44)), ("", None), (None, None),
     ("unknown", None)],
)
def test_version_tuple(text, expected):
    assert fit.version_tuple(text) == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [((5, 10), (5, 10, 0), 0), ((6, 1, 0), (5, 10), 1), ((5, 4, 200), (5, 10), -1), ((4,), (4, 0, 1), -1)],
)
def test_compare_versions(left, right, expected):
    assert fit.compare_versions(left, right) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("podman>=4.0", ("podman", ">=", "4.0")), ("crun", ("crun", None, None)),
     (" runc >= 1.1.5 ", ("runc", ">=", "1.1.5")), ("Docker==28", ("docker", "==", "28")),
     ("conmon!=2.1.0", ("conmon", "!=", "2.1.0")), ("skopeo<2", ("skopeo", "<", "2"))],
)
def test_parse_engine_spec(spec, expected):
    assert fit.parse_engine_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [("podman>=", "is not a tool requirement"), ("podman=>4", "is not a tool requirement"),
     ("podman>=4.x", "is not a tool requirement"), ("", "is not a tool requirement"), (4, "is not a tool"),
     ("containerd>=1.6", "names containerd, which is not checked; accepted tools: podman, docker, buildah, skopeo, "
                         "runc, crun, conmon")],
)
def test_parse_engine_spec_refuses(spec, fragment):
    with pytest.raises(fit.FitnessError, match=None) as exc_info:
        fit.parse_engine_spec(spec)
    assert fragment in str(exc_info.value)


# ---- validation

def test_validate_normalises():
    req = fit.validate_requirements({**FULL, "cgroup_v2": None,
                                     "disk_free": [{"path": None, "min_gb": 1.5}, {"path": "/srv//x/", "min_gb": 0}]})
    assert "cgroup_v2" not in req
    assert req["hugepages_free"] == [{"size_kib": 2048, "count": 512, "node": None},
                                     {"size_kib": 1048576, "count": 2, "node": 0},
                                     {"size_kib": 2048, "count": 200, "node": 1}]
    assert req["engines"] == [("podman>=4.0", "podman", ">=", "4.0"), ("crun", "crun", None, None),
                              ("runc>=1.1", "runc", ">=", "1.1")]
    assert req["disk_free"] == [{"path": "/var/lib/containers", "min_gb": 1.5}, {"path": "/srv/x", "min_gb": 0}]
    assert req["kernel_modules"] == ["overlay", "br_netfilter"]
    assert req["sysctls"] == {"net.ipv4.ip_forward": "1", "net.ipv4.ip_local_port_range": "32768 60999"}


def test_validate_empty_is_fine():
    assert fit.validate_requirements({}) == {}
    assert fit.validate_requirements({"kernel_min": None, "engines": None}) == {}


@pytest.mark.parametrize(
    ("requirements", "message"),
    [
        ({"kernel_min": "five"}, "requirements.kernel_min: 'five' is not a kernel version; accepted: numbers "
                                 "separated by dots, such as 5.10 or 6.1.0"),
        ({"kernel_min": "5.10-rc1"}, "requirements.kernel_min: '5.10-rc1'"),
        ({"selinux": "strict"}, "requirements.selinux: 'strict' is not accepted; accepted: enforcing, permissive, "
                                "enabled, disabled, any"),
        ({"hugepages_free": [{"size": "2M", "count": 1}, {"size": "2", "count": 1}]},
         "requirements.hugepages_free[1].size: '2' is not a hugepage size"),
        ({"hugepages_free": [{"size": "2M", "count": -1}]},
         "requirements.hugepages_free[0].count: -1 is too small; accepted: 0 or more"),
        ({"hugepages_free": [{"size": "2M", "count": 1, "node": -2}]}, "requirements.hugepages_free[0].node: -2"),
        ({"cpus_min": -1}, "requirements.cpus_min: -1 is too small"),
        ({"memory_min_mb": "lots"}, "requirements.memory_min_mb: 'lots' is not a whole number"),
        ({"numa_nodes_min": True}, "requirements.numa_nodes_min: True is not a whole number"),
        ({"engines": ["podman", "lxc"]}, "requirements.engines[1]: 'lxc' names lxc, which is not checked"),
        ({"disk_free": [{"path": "var/lib", "min_gb": 1}]}, "requirements.disk_free[0].path: 'var/lib' is relative"),
        ({"disk_free": [{"path": "/", "min_gb": -0.5}]}, "requirements.disk_free[0].min_gb: -0.5 is too small"),
        ({"kernel_modules": ["overlay", "nf conntrack"]}, "requirements.kernel_modules[1]: 'nf conntrack' is not a "
                                                          "module name"),
        ({"sysctls": {"../../etc/passwd": 1}}, "requirements.sysctls: '../../etc/passwd' is not a sysctl name"),
        ({"sysctls": {"/proc/sys/x": 1}}, "requirements.sysctls: '/proc/sys/x' is not a sysctl name"),
        ({"sysctls": {"net.ipv4.ip_forward": None}}, "requirements.sysctls.net.ipv4.ip_forward: None is not a value"),
    ],
)
def test_validate_errors_name_the_field(requirements, message):
    with pytest.raises(fit.FitnessError) as exc_info:
        fit.validate_requirements(requirements)
    assert message in str(exc_info.value)


def test_needed_subsets():
    assert fit.needed_subsets(fit.validate_requirements(FULL)) == [
        "cgroup", "selinux", "engines", "cpu", "hugepages", "kernel", "storage", "memory"]
    assert fit.needed_subsets({"time_synced": True, "sysctls": {}}) == []
    assert fit.needed_subsets({"kernel_modules": ["overlay"]}) == ["kernel"]


@pytest.mark.parametrize(
    ("key", "path"),
    [("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"),
     ("net/ipv4/conf/eth0.100/forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding")],
)
def test_sysctl_path(key, path):
    assert fit.sysctl_path(key) == path


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1"), ("1", "1"), (True, "1"), (False, "0"), ([32768, 60999], "32768 60999"), ("32768\t 60999", "32768 60999"),
     ("cubic", "cubic")],
)
def test_sysctl_value(value, text):
    assert fit.sysctl_value(value) == text


# ---- extra fact parsers

PROC_MODULES = ("overlay 151552 0 - Live 0x0000000000000000\n"
                "br_netfilter 32768 0 - Live 0x0000000000000000\n"
                "bridge 311296 1 br_netfilter, Live 0x0000000000000000\n")


def test_parse_proc_modules():
    assert fit.parse_proc_modules(PROC_MODULES) == {"overlay", "br_netfilter", "bridge"}
    assert fit.parse_proc_modules(None) == set()


def test_parse_modules_builtin():
    text = "kernel/fs/overlayfs/overlay.ko\nkernel/net/netfilter/nf-conntrack.ko\nkernel/lib/crc32c.ko\n\n"
    assert fit.parse_modules_builtin(text) == {"overlay", "nf_conntrack", "crc32c"}


@pytest.mark.parametrize(
    ("name", "in_sys_module", "expected"),
    [("overlay", True, "loaded"), ("crc32c", False, "built-in"), ("vfio", True, "built-in"), ("zfs", False, None)],
)
def test_module_state(name, in_sys_module, expected):
    assert fit.module_state(name, {"overlay"}, {"crc32c"}, in_sys_module) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("NTPSynchronized=yes\n", True), ("NTPSynchronized=no\n", False), ("", None), (None, None),
     ("Timezone=UTC\nNTPSynchronized=maybe\n", None)],
)
def test_parse_timedatectl(text, expected):
    assert fit.parse_timedatectl(text) == expected


CHRONY_SYNCED = """Reference ID    : C0000201 (192.0.2.1)
Stratum         : 3
Ref time (UTC)  : Thu Oct 16 10:00:00 2025
System time     : 0.000012 seconds fast of NTP time
Leap status     : Normal
"""
CHRONY_UNSYNCED = """Reference ID    : 00000000 ()
Stratum         : 0
Ref time (UTC)  : Thu Jan 01 00:00:00 1970
Leap status     : Not synchronised
"""
NTPQ_SYNCED = """     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
*192.0.2.10      .GPS.            1 u   33   64  377    0.512   -0.012   0.020
+192.0.2.11      192.0.2.10       2 u   12   64  377    0.601    0.034   0.015
"""
NTPQ_UNSYNCED = """     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
 192.0.2.10      .INIT.          16 u    -   64    0    0.000    0.000   0.000
"""


def test_chrony_and_ntpq_parsers():
    assert fit.parse_chrony_tracking(CHRONY_SYNCED) is True
    assert fit.parse_chrony_tracking(CHRONY_UNSYNCED) is False
    assert fit.parse_chrony_tracking("506 Cannot talk to daemon\n") is None
    assert fit.parse_ntpq_peers(NTPQ_SYNCED) is True
    assert fit.parse_ntpq_peers(NTPQ_UNSYNCED) is False
    assert fit.parse_ntpq_peers("ntpq: read: Connection refused\n") is None


@pytest.mark.parametrize(
    ("evidence", "synced", "source"),
    [
        ([], None, None),
        ([{"source": "timedatectl", "synced": None}], None, None),
        ([{"source": "timedatectl", "synced": False}, {"source": "chrony", "synced": True}], True, "chrony"),
        ([{"source": "timedatectl", "synced": False}, {"source": "ntpd", "synced": None}], False, "timedatectl"),
        ([{"source": "timedatectl", "synced": None}, {"source": "systemd-timesyncd", "synced": True}], True,
         "systemd-timesyncd"),
    ],
)
def test_time_sync_facts(evidence, synced, source):
    facts = fit.time_sync_facts(evidence)
    assert (facts["synced"], facts["source"]) == (synced, source)
    assert facts["evidence"] == evidence


# ---- the verdict

def test_good_host_is_fit_with_every_check_in_order():
    result = verdict(FULL, GOOD)
    assert result["verdict"] == "fit"
    assert result["failed"] == []
    assert [check["name"] for check in result["checks"]] == CHECK_NAMES
    assert all(check["ok"] and check["fix"] is None for check in result["checks"])
    assert only(result, "kernel_min")["wanted"] == ">= 5.10"
    assert only(result, "kernel_min")["actual"] == "6.1.0-37-amd64"
    # 560 free minus 10 reserved.
    assert only(result, "hugepages_free[2048kB]")["actual"] == 550
    assert only(result, "engines[podman>=4.0]")["actual"] == "4.3.1"
    assert only(result, "engines[crun]")["wanted"] == "crun present"
    assert only(result, "disk_free[/var/lib/containers]")["actual"] == 40.0
    assert only(result, "kernel_modules[br_netfilter]")["actual"] == "built-in"
    assert only(result, "sysctls[net.ipv4.ip_local_port_range]")["actual"] == "32768 60999"
    assert fit.summary(result) == "fit: 18 checks passed"


def test_no_requirements_is_fit():
    result = verdict({}, GOOD)
    assert result == {"verdict": "fit", "checks": [], "failed": []}
    assert fit.summary(result) == "fit: 0 checks passed"


def test_testbed_like_host_is_unfit_with_exact_items():
    """A container host of the testbed: podman container, hybrid cgroups, no SELinux, no hugepages, 2 CPUs."""
    facts = changed_facts(
        container="podman",
        kernel__release="6.1.0-37-amd64",
        cgroup__mode="hybrid",
        selinux={"status": "disabled", "mode": "disabled", "config_mode": None, "policy_type": None},
        hugepages={"default_size": "2048kB", "pools": {
            "2048kB": {"size_bytes": 2097152, "total": 0, "free": 0, "reserved": 0, "surplus": 0}}},
        cpu={"online": "0-1", "online_cpus": [0, 1], "count": 2,
             "numa_nodes": [{"id": 0, "cpulist": "0-1", "cpus": [0, 1], "memory_total_bytes": 4 * GIB}]},
        time_sync={"synced": None, "source": None, "evidence": [{"source": "timedatectl", "synced": None}]},
    )
    result = verdict({**FULL, "hugepages_free": [{"size": "2M", "count": 512}], "kernel_modules": ["overlay"],
                      "sysctls": {"net.ipv4.ip_forward": 1}}, facts)
    assert result["verdict"] == "unfit"
    assert result["failed"] == ["cgroup_v2", "selinux", "hugepages_free[2048kB]", "numa_nodes_min", "cpus_min",
                                "time_synced"]
    cgroup = only(result, "cgroup_v2")
    assert (cgroup["wanted"], cgroup["actual"]) == ("v2", "hybrid")
    assert cgroup["fix"].startswith("this is a container (podman), which shares its host's kernel: on the host, boot "
                                    "with systemd.unified_cgroup_hierarchy=1")
    hugepages = only(result, "hugepages_free[2048kB]")
    assert (hugepages["actual"], hugepages["wanted"]) == (0, ">= 512 free")
    assert hugepages["fix"].endswith("on the host, reserve 512 more pages with containerhost.platform.hugepages "
                                     "pools: [{size: 2M, count: 512}]")
    assert only(result, "time_synced")["fix"] == ("this is a container (podman), whose clock is its host's: "
                                                  "synchronise the host's clock")
    assert fit.summary(result) == ("unfit: 6 of 14 checks failed: cgroup_v2, selinux, hugepages_free[2048kB], "
                                   "numa_nodes_min, cpus_min, time_synced")


@pytest.mark.parametrize(
    ("requirements", "facts", "name", "actual", "fix"),
    [
        ({"kernel_min": "6.2"}, {}, "kernel_min", "6.1.0-37-amd64",
         "upgrade the kernel to 6.2 or later and reboot into it (running 6.1.0-37-amd64); a distribution's "
         "backports or newer release has one"),
        ({"kernel_min": "5.10"}, {"kernel__release": "weird"}, "kernel_min", "weird",
         "the kernel release ('weird') has no version number to compare"),
        ({"cgroup_v2": True}, {"cgroup__mode": "v1", "kernel__cmdline": "ro systemd.unified_cgroup_hierarchy=0"},
         "cgroup_v2", "v1",
         "boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line (GRUB_CMDLINE_LINUX in "
         "/etc/default/grub, then update-grub or grub2-mkconfig) and reboot; the command line now has "
         "systemd.unified_cgroup_hierarchy=0, remove it"),
        ({"cgroup_v2": False}, {}, "cgroup_v2", "v2",
         "boot with systemd.unified_cgroup_hierarchy=0 on the kernel command line for the legacy hierarchy "
         "(systemd 256 and later refuse it; prefer making the workload work on cgroup v2)"),
        ({"selinux": "enforcing"}, {"selinux__mode": "permissive"}, "selinux", "permissive",
         "run setenforce 1 and set SELINUX=enforcing in /etc/selinux/config (ansible.posix.selinux with state: "
         "enforcing)"),
        ({"selinux": "permissive"}, {}, "selinux", "enforcing",
         "run setenforce 0 and set SELINUX=permissive in /etc/selinux/config (ansible.posix.selinux with state: "
         "permissive)"),
        ({"selinux": "enabled"}, {"selinux__mode": "disabled"}, "selinux", "disabled",
         "SELinux is off in the kernel: install a policy (selinux-basics and selinux-policy-default on Debian, "
         "selinux-policy-targeted on RHEL-likes), set SELINUX=enforcing in /etc/selinux/config, touch /.autorelabel "
         "and reboot"),
        ({"selinux": "disabled"}, {}, "selinux", "enforcing",
         "set SELINUX=disabled in /etc/selinux/config and reboot (ansible.posix.selinux with state: disabled); "
         "setenforce 0 makes it permissive until then"),
        ({"hugepages_free": [{"size": "2M", "count": 600}]}, {}, "hugepages_free[2048kB]", 550,
         "reserve 50 more pages with containerhost.platform.hugepages pools: [{size: 2M, count: 650}]"),
        ({"hugepages_free": [{"size": "2M", "count": 280, "node": 1}]}, {}, "hugepages_free[2048kB node 1]", 260,
         "reserve 20 more pages with containerhost.platform.hugepages pools: [{size: 2M, count: 320, node: 1}]"),
        ({"hugepages_free": [{"size": "1G", "count": 1, "node": 1}]}, {}, "hugepages_free[1048576kB node 1]", None,
         "this kernel has no 1048576kB (1G) pool on node 1; available: 2048kB (2M)"),
        ({"hugepages_free": [{"size": "16G", "count": 1}]}, {}, "hugepages_free[16777216kB]", None,
         "this kernel has no 16777216kB (16G) pool; available: 2048kB (2M), 1048576kB (1G)"),
        ({"hugepages_free": [{"size": "2M", "count": 1, "node": 4}]}, {}, "hugepages_free[2048kB node 4]", None,
         "NUMA node 4 does not exist on this host (nodes: 0, 1)"),
        ({"numa_nodes_min": 4}, {}, "numa_nodes_min", 2,
         "the host has 2 NUMA node(s): run this on a host with at least 4 (a VM gets them from its machine "
         "definition)"),
        ({"cpus_min": 16}, {}, "cpus_min", 8,
         "8 CPU(s) are online: give the host at least 16 (more vCPUs for a VM; an offline CPU comes online with "
         "echo 1 > /sys/devices/system/cpu/cpuN/online)"),
        ({"memory_min_mb": 32768}, {}, "memory_min_mb", 16384,
         "the host has 16384 MiB of memory: give it at least 32768 MiB"),
        ({"memory_min_mb": 1}, {"memory__total_bytes": None}, "memory_min_mb", None,
         "MemTotal could not be read from /proc/meminfo"),
        ({"engines": ["docker"]}, {}, "engines[docker]", "absent",
         "install docker: apt-get install docker.io, or dnf install moby-engine"),
        ({"engines": ["podman>=5.0"]}, {}, "engines[podman>=5.0]", "4.3.1",
         "podman 4.3.1 does not satisfy >= 5.0: install a podman release that does (a newer distribution release "
         "or its backports; apt-get install podman, or dnf install podman)"),
        ({"engines": ["skopeo"]}, {}, "engines[skopeo]", "absent",
         "install skopeo: apt-get install skopeo, or dnf install skopeo"),
        ({"engines": ["crun<1.8"]}, {}, "engines[crun<1.8]", "1.8.1",
         "crun 1.8.1 does not satisfy < 1.8: install a crun release that does (a newer distribution release or its "
         "backports; apt-get install crun, or dnf install crun)"),
        ({"engines": ["podman>=4"]}, {"engines": {"podman": {"kind": "engine", "present": True,
                                                             "path": "/usr/bin/podman", "version": None}}},
         "engines[podman>=4]", "present, version unknown",
         "/usr/bin/podman --version printed no podman version: reinstall podman, or make sure /usr/bin/podman is "
         "podman itself and not a shim for another tool"),
        ({"disk_free": [{"path": "/var/lib/containers", "min_gb": 50}]}, {}, "disk_free[/var/lib/containers]", 40.0,
         "free 10.0 GiB more on the filesystem holding /var/lib/containers, which has 40.0 GiB free of 100.0 GiB: "
         "remove unused images and containers (podman system prune --all) or grow the filesystem"),
        ({"disk_free": [{"path": "/srv/images", "min_gb": 1}]},
         {"storage": [{"path": "/srv/images", "exists": False, "measured_at": "/srv", "total_bytes": 10 * GIB,
                       "free_bytes": GIB // 2}]},
         "disk_free[/srv/images]", 0.5,
         "free 0.5 GiB more on the filesystem holding /srv/images (not there yet; measured at /srv), which has 0.5 "
         "GiB free of 10.0 GiB: remove unused images and containers (podman system prune --all) or grow the "
         "filesystem"),
        ({"disk_free": [{"path": "/data", "min_gb": 1}]}, {}, "disk_free[/data]", None,
         "the free space of /data could not be measured"),
        ({"time_synced": True}, {"time_sync": {"synced": False, "source": "chrony", "evidence": []}}, "time_synced",
         {"synced": False, "source": "chrony"},
         "the clock is not synchronised (according to chrony): check that the time service reaches its servers "
         "(timedatectl timesync-status, chronyc sources) and that UDP port 123 is open to them"),
        ({"time_synced": True}, {"time_sync": {"synced": None, "source": None, "evidence": []}}, "time_synced",
         {"synced": None, "source": None},
         "no time service answered (timedatectl, systemd-timesyncd, chrony, ntpd): install and enable one, such as "
         "apt-get install systemd-timesyncd (or chrony) and systemctl enable --now systemd-timesyncd"),
        ({"kernel_modules": ["vfio-pci"]}, {"kernel_modules": {"vfio_pci": None}}, "kernel_modules[vfio_pci]",
         "not loaded",
         "load vfio_pci now and at every boot: containerhost.platform.kernel_module modules: [{name: vfio_pci}] "
         "(by hand: modprobe vfio_pci, and a line 'vfio_pci' in a file in /etc/modules-load.d/)"),
        ({"sysctls": {"net.ipv4.ip_forward": 0}}, {}, "sysctls[net.ipv4.ip_forward]", "1",
         "set it now and at every boot: containerhost.platform.sysctl settings: {net.ipv4.ip_forward: 0} "
         "(by hand: sysctl -w net.ipv4.ip_forward=0, and 'net.ipv4.ip_forward = 0' in a file in /etc/sysctl.d/)"),
        ({"sysctls": {"net.ipv4.ip_local_port_range": "1024 65000"}}, {}, "sysctls[net.ipv4.ip_local_port_range]",
         "32768 60999",
         "set it now and at every boot: containerhost.platform.sysctl settings: {net.ipv4.ip_local_port_range: "
         "1024 65000} (by hand: sysctl -w net.ipv4.ip_local_port_range='1024 65000', and "
         "'net.ipv4.ip_local_port_range = 1024 65000' in a file in /etc/sysctl.d/)"),
        ({"sysctls": {"net.bridge.bridge-nf-call-iptables": 1}}, {"sysctls": {"net.bridge.bridge-nf-call-iptables": None}},
         "sysctls[net.bridge.bridge-nf-call-iptables]", None,
         "net.bridge.bridge-nf-call-iptables does not exist on this kernel "
         "(/proc/sys/net/bridge/bridge-nf-call-iptables): the module that provides it is not loaded "
         "(containerhost.platform.kernel_module), or the name is wrong"),
    ],
)
def test_each_failed_requirement_has_its_fix(requirements, facts, name, actual, fix):
    result = verdict(requirements, changed_facts(**facts))
    assert result["verdict"] == "unfit"
    assert result["failed"] == [name]
    check = only(result, name)
    assert check["ok"] is False
    assert check["actual"] == actual
    assert check["fix"] == fix


@pytest.mark.parametrize(
    ("requirements", "facts"),
    [
        ({"kernel_min": "6.1"}, {}),
        ({"kernel_min": "6.1.0"}, {}),
        ({"selinux": "any"}, {"selinux__mode": "disabled"}),
        ({"selinux": "enabled"}, {"selinux__mode": "permissive"}),
        ({"cgroup_v2": False}, {"cgroup__mode": "hybrid"}),
        ({"hugepages_free": [{"size": "2M", "count": 550}]}, {}),
        ({"hugepages_free": [{"size": "2M", "count": 0, "node": 1}]}, {}),
        ({"engines": ["runc>=1.1.5", "runc<=1.1.5", "runc==1.1.5", "runc!=1.2", "runc>1.1", "runc<2"]}, {}),
        ({"time_synced": False}, {"time_sync": {"synced": False, "source": "chrony", "evidence": []}}),
        ({"disk_free": [{"path": "/var/lib/containers", "min_gb": 40}]}, {}),
        ({"memory_min_mb": 16384, "cpus_min": 8, "numa_nodes_min": 2}, {}),
    ],
)
def test_boundaries_pass(requirements, facts):
    result = verdict(requirements, changed_facts(**facts))
    assert result["failed"] == []
    assert result["verdict"] == "fit"


def test_time_synced_false_is_not_checked():
    assert verdict({"time_synced": False}, GOOD)["checks"] == []


def test_container_fixes_address_the_host():
    facts = changed_facts(container="podman", kernel_modules={"overlay": None}, sysctls={"net.ipv4.ip_forward": "0"})
    result = verdict({"kernel_min": "7.0", "kernel_modules": ["overlay"], "sysctls": {"net.ipv4.ip_forward": 1},
                      "selinux": "permissive", "cpus_min": 9}, facts)
    assert result["failed"] == ["kernel_min", "selinux", "cpus_min", "kernel_modules[overlay]",
                                "sysctls[net.ipv4.ip_forward]"]
    prefix = "this is a container (podman), which shares its host's kernel: on the host, "
    assert only(result, "kernel_min")["fix"].startswith(prefix + "upgrade the kernel to 7.0")
    assert only(result, "selinux")["fix"].startswith(prefix + "run setenforce 0")
    assert not only(result, "cpus_min")["fix"].startswith("this is a container")
    assert only(result, "kernel_modules[overlay]")["fix"] == (
        "this is a container (podman), which cannot load kernel modules: on the host, modprobe overlay and list it "
        "in /etc/modules-load.d/")
    assert only(result, "sysctls[net.ipv4.ip_forward]")["fix"].endswith(
        "; in a container (podman) only namespaced sysctls (net.*, some kernel.*) can be set")
