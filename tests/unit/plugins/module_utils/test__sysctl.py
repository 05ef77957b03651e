# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for sysctl keys, values, namespaces, sysctl.d files and a fake /proc/sys tree."""

from __future__ import annotations

import os

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _sysctl as s


def write_tree(root: Path, keys: dict[str, str]) -> None:
    """Files below root/proc/sys for keys given as paths."""
    for key_path, value in keys.items():
        path = root / "proc" / "sys" / key_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")


@pytest.mark.parametrize(
    ("raw", "name", "path"),
    [
        ("net.core.somaxconn", "net.core.somaxconn", "net/core/somaxconn"),
        ("  vm.swappiness ", "vm.swappiness", "vm/swappiness"),
        ("net/core/somaxconn", "net.core.somaxconn", "net/core/somaxconn"),
        ("/proc/sys/kernel/pid_max", "kernel.pid_max", "kernel/pid_max"),
        ("net.ipv4.conf.eth0/10.rp_filter", "net.ipv4.conf.eth0/10.rp_filter", "net/ipv4/conf/eth0.10/rp_filter"),
        ("net/ipv4/conf/eth0.10/rp_filter", "net.ipv4.conf.eth0/10.rp_filter", "net/ipv4/conf/eth0.10/rp_filter"),
        ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-iptables",
         "net/bridge/bridge-nf-call-iptables"),
        ("fs.inotify.max_user_watches", "fs.inotify.max_user_watches", "fs/inotify/max_user_watches"),
    ],
)
def test_parse_key_accepts_both_forms(raw, name, path):
    assert s.parse_key(raw) == (name, path)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        (None, "not a string"),
        (5, "not a string"),
        ("-net.core.somaxconn", "ignore-failure prefix"),
        ("net.ipv4.conf.*.rp_filter", "is a pattern"),
        ("net..core", "empty component"),
        ("net.core.", "empty component"),
        ("net/../etc/passwd", "empty component"),
        ("net.core.some maxconn", "contains ' '"),
        ("net.core.x=1", "contains '='"),
        ("kernel", "names no key"),
    ],
)
def test_parse_key_refuses(raw, fragment):
    with pytest.raises(s.SysctlError, match=None) as info:
        s.parse_key(raw)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "1"),
        (False, "0"),
        (4096, "4096"),
        (-1, "-1"),
        ("4096\t87380   6291456", "4096 87380 6291456"),
        ("  bbr ", "bbr"),
        ("|/usr/lib/systemd/systemd-coredump %P %u", "|/usr/lib/systemd/systemd-coredump %P %u"),
    ],
)
def test_normalize_value(value, expected):
    assert s.normalize_value(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(1.5, "is a float"), ([1, 2], "is a list"), (None, "is a NoneType"), ("", "empty"), ("  ", "empty"),
     ("1\n2", "control character")],
)
def test_normalize_value_refuses(value, fragment):
    with pytest.raises(s.SysctlError) as info:
        s.normalize_value(value)
    assert fragment in str(info.value)


def test_values_equal_compares_fields():
    assert s.values_equal("4096\t87380\t6291456", "4096 87380 6291456")
    assert not s.values_equal("4096 87380", "4096 87380 6291456")
    assert not s.values_equal(None, "1")
    assert s.values_equal(None, None)


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("net.core.somaxconn", "net"),
        ("net.ipv4.tcp_rmem", "net"),
        ("net.ipv4.ip_forward", "net"),
        ("net.core.rmem_max", "none"),
        ("net.core.netdev_max_backlog", "none"),
        ("net.nf_conntrack_max", "none"),
        ("kernel.shmmax", "ipc"),
        ("kernel.msgmnb", "ipc"),
        ("kernel.sem", "ipc"),
        ("fs.mqueue.msg_max", "ipc"),
        ("kernel.hostname", "uts"),
        ("user.max_user_namespaces", "user"),
        ("vm.max_map_count", "none"),
        ("kernel.pid_max", "none"),
        ("fs.file-max", "none"),
    ],
)
def test_namespace_of(name, namespace):
    assert s.namespace_of(name) == namespace


def test_suggest_finds_near_keys():
    keys = ["net.core.somaxconn", "net.core.rmem_max", "net.core.wmem_max"]
    assert s.suggest("net.core.somaxcon", keys) == ["net.core.somaxconn"]
    assert s.suggest("net.core.rmem_mxa", keys)[0] == "net.core.rmem_max"
    assert s.suggest("vm.nothing_like_it", keys) == []


def test_module_hint():
    assert "br_netfilter" in s.module_hint("net.bridge.bridge-nf-call-iptables")
    assert s.module_hint("vm.swappiness") is None


CONF = """\
# comment
; another comment
net.core.somaxconn = 1024
-net.ipv4.tcp_rmem=4096   87380 6291456
not an assignment
net/ipv4/ip_forward = 1
net.ipv4.conf.*.rp_filter = 2
net.core.somaxconn = 2048
"""


def test_parse_sysctl_conf_normalizes_and_keeps_last():
    assert s.parse_sysctl_conf(CONF) == {
        "net.ipv4.tcp_rmem": "4096 87380 6291456",
        "net.ipv4.ip_forward": "1",
        "net.ipv4.conf.*.rp_filter": "2",
        "net.core.somaxconn": "2048",
    }
    assert s.parse_sysctl_conf(None) == {}


def test_render_is_stable_and_parses_back():
    settings = {"net.core.somaxconn": "4096", "vm.max_map_count": "262144"}
    text = s.render_sysctl_conf(["Ansible managed", "", "fingerprint"], settings)
    assert text == "# Ansible managed\n#\n# fingerprint\nnet.core.somaxconn = 4096\nvm.max_map_count = 262144\n"
    assert s.parse_sysctl_conf(text) == settings
    assert s.render_sysctl_conf(["Ansible managed", "", "fingerprint"], s.parse_sysctl_conf(text)) == text


def test_merge_settings_with_and_without_purge():
    existing = {"a.b": "1", "c.d": "2"}
    wanted = {"c.d": "3", "e.f": "4"}
    assert s.merge_settings(existing, wanted, purge=True) == {"c.d": "3", "e.f": "4"}
    merged = s.merge_settings(existing, wanted, purge=False)
    assert merged == {"a.b": "1", "c.d": "3", "e.f": "4"}
    assert list(merged) == ["a.b", "c.d", "e.f"]


def test_detect_container(tmp_path):
    assert s.detect_container(str(tmp_path)) is None
    (tmp_path / "run" / "systemd").mkdir(parents=True)
    (tmp_path / "run" / "systemd" / "container").write_text("podman\n")
    assert s.detect_container(str(tmp_path)) == "podman"


def test_detect_container_from_pid1_environ(tmp_path):
    (tmp_path / "proc" / "1").mkdir(parents=True)
    (tmp_path / "proc" / "1" / "environ").write_bytes(b"PATH=/bin\0container=lxc\0")
    assert s.detect_container(str(tmp_path)) == "lxc"
    (tmp_path / ".dockerenv").write_text("")
    assert s.detect_container(str(tmp_path)) == "docker"


def test_proc_sys_reads_writes_and_checks(tmp_path):
    write_tree(tmp_path, {"net/ipv4/tcp_rmem": "4096\t87380\t6291456", "vm/drop_caches": "0",
                          "fs/file-nr": "1 0 9"})
    os.chmod(tmp_path / "proc/sys/vm/drop_caches", 0o200)
    os.chmod(tmp_path / "proc/sys/fs/file-nr", 0o444)
    proc = s.ProcSys(str(tmp_path))
    assert proc.read("net/ipv4/tcp_rmem") == "4096 87380 6291456"
    assert proc.read("net/ipv4/nothing") is None
    assert proc.exists("net/ipv4/tcp_rmem") and not proc.exists("net/ipv4")
    proc.write("net/ipv4/tcp_rmem", "1 2 3")
    assert (tmp_path / "proc/sys/net/ipv4/tcp_rmem").read_text() == "1 2 3\n"
    assert proc.write_only("vm/drop_caches") and not proc.write_only("net/ipv4/tcp_rmem")
    assert proc.unwritable("net/ipv4/tcp_rmem") is None
    assert proc.unwritable("fs/file-nr")[0] == "ro-key"


def test_proc_sys_read_only_mount_uses_the_deepest_mount(tmp_path):
    write_tree(tmp_path, {"net/core/somaxconn": "4096", "vm/swappiness": "60"})
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "mountinfo").write_text(
        "22 1 0:5 / /proc rw,nosuid - proc proc rw\n"
        "118 22 0:45 /sys /proc/sys ro,nosuid,nodev - proc proc rw\n"
        "119 118 0:45 /sys/net /proc/sys/net rw,nosuid,nodev - proc proc rw\n")
    proc = s.ProcSys(str(tmp_path))
    assert proc.mount_read_only("vm/swappiness")
    assert not proc.mount_read_only("net/core/somaxconn")
    assert proc.unwritable("vm/swappiness") == ("ro-mount", "/proc/sys is mounted read-only here")
    assert proc.unwritable("net/core/somaxconn") is None


def test_read_only_mounts_unescapes():
    assert s.read_only_mounts("1 0 0:1 / /a\\040b ro - x x rw\n") == [("/a b", True)]


def test_child_netns_is_told_by_missing_host_keys(tmp_path):
    write_tree(tmp_path, {"net/core/somaxconn": "4096", "net/core/rmem_max": "212992"})
    assert s.ProcSys(str(tmp_path)).in_child_netns()
    write_tree(tmp_path, {"net/ipv4/tcp_mem": "93327\t124439\t186654"})
    assert not s.ProcSys(str(tmp_path)).in_child_netns()
    assert not s.ProcSys(str(tmp_path / "nothing")).in_child_netns()


def test_nearby_keys_start_at_the_deepest_existing_parent(tmp_path):
    write_tree(tmp_path, {"net/core/somaxconn": "1", "net/core/rmem_max": "1", "net/ipv4/conf/eth0.10/rp_filter": "1",
                          "vm/swappiness": "1"})
    proc = s.ProcSys(str(tmp_path))
    assert proc.nearby_keys("net/core/somaxconm") == ["net.core.rmem_max", "net.core.somaxconn"]
    assert "net.ipv4.conf.eth0/10.rp_filter" in proc.nearby_keys("net/ipv4/conf/eth0.10/rp_filtr")
    assert "vm.swappiness" in proc.nearby_keys("nothing/at/all")


def make_dirs(root: Path, files: dict[str, str]) -> None:
    """Write host files below root."""
    for path, text in files.items():
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)


def test_sysctl_files_order_and_masking(tmp_path):
    make_dirs(tmp_path, {"/etc/sysctl.d/90-containerhost.conf": "", "/usr/lib/sysctl.d/50-default.conf": "",
                         "/usr/lib/sysctl.d/90-containerhost.conf": "", "/run/sysctl.d/99-run.conf": "",
                         "/etc/sysctl.conf": ""})
    assert s.sysctl_files(str(tmp_path)) == [
        ("50-default.conf", "/usr/lib/sysctl.d/50-default.conf"),
        ("90-containerhost.conf", "/etc/sysctl.d/90-containerhost.conf"),
        ("99-run.conf", "/run/sysctl.d/99-run.conf"),
        ("sysctl.conf", "/etc/sysctl.conf"),
    ]


def test_sysctl_conf_linked_into_sysctl_d_is_read_once(tmp_path):
    make_dirs(tmp_path, {"/etc/sysctl.conf": "vm.swappiness = 1\n"})
    (tmp_path / "etc" / "sysctl.d").mkdir()
    os.symlink("../sysctl.conf", tmp_path / "etc" / "sysctl.d" / "99-sysctl.conf")
    assert s.sysctl_files(str(tmp_path)) == [("99-sysctl.conf", "/etc/sysctl.d/99-sysctl.conf")]


def test_boot_overrides_only_later_files_with_other_values(tmp_path):
    make_dirs(tmp_path, {
        "/usr/lib/sysctl.d/50-default.conf": "vm.swappiness = 30\n",
        "/etc/sysctl.d/95-local.conf": "net.core.somaxconn = 4096\nnet.ipv4.conf.*.rp_filter = 2\n",
        "/etc/sysctl.conf": "vm.max_map_count = 65530\n",
    })
    wanted = {"vm.swappiness": "10", "net.core.somaxconn": "4096", "net.ipv4.conf.all.rp_filter": "1",
              "vm.max_map_count": "262144"}
    assert s.boot_overrides(str(tmp_path), "90-containerhost.conf", wanted) == {
        "net.ipv4.conf.all.rp_filter": {"file": "/etc/sysctl.d/95-local.conf", "value": "2"},
        "vm.max_map_count": {"file": "/etc/sysctl.conf", "value": "65530"},
    }


def test_file_mode_right(tmp_path):
    path = tmp_path / "f.conf"
    assert s.file_mode_right(str(path))
    path.write_text("x")
    os.chmod(path, 0o600)
    assert not s.file_mode_right(str(path))
    os.chmod(path, 0o644)
    assert s.file_mode_right(str(path))
