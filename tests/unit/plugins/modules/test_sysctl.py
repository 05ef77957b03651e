# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.sysctl module, run through main() against a fake /proc/sys and /etc."""

from __future__ import annotations

import errno
import os
import stat
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _sysctl as s
from ansible_collections.containerhost.platform.plugins.modules import sysctl as sysctl_module

# A host kernel's keys (initial network namespace), as paths below /proc/sys.
HOST_KEYS = {
    "net/core/somaxconn": "4096",
    "net/core/rmem_max": "212992",
    "net/core/wmem_max": "212992",
    "net/core/netdev_max_backlog": "1000",
    "net/core/message_cost": "5",
    "net/ipv4/tcp_mem": "93327\t124439\t186654",
    "net/ipv4/tcp_rmem": "4096\t131072\t6291456",
    "net/ipv4/ip_forward": "0",
    "vm/max_map_count": "65530",
    "vm/swappiness": "60",
    "kernel/pid_max": "4194304",
    "kernel/shmmax": "18446744073692774399",
    "fs/file-nr": "1024\t0\t9223372036854775807",
    "vm/drop_caches": "0",
}
# What a kernel 6.1 network namespace of its own lacks (6.x kernels keep rmem_max/wmem_max per namespace).
INIT_NETNS_ONLY = ("net/core/rmem_max", "net/core/wmem_max", "net/core/netdev_max_backlog", "net/core/message_cost",
                   "net/ipv4/tcp_mem")
FILE = "etc/sysctl.d/90-containerhost.conf"


class Host:
    """A root directory with /proc/sys, /proc/self/mountinfo and /etc/sysctl.d."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.set_keys(HOST_KEYS)
        os.chmod(self.key("fs/file-nr"), 0o444)
        os.chmod(self.key("vm/drop_caches"), 0o200)

    def key(self, key_path: str) -> Path:
        """The file of a key."""
        return self.root / "proc" / "sys" / key_path

    def set_keys(self, keys: dict[str, str]) -> None:
        """Create or set keys."""
        for key_path, value in keys.items():
            self.key(key_path).parent.mkdir(parents=True, exist_ok=True)
            self.key(key_path).write_text(f"{value}\n")

    def value(self, key_path: str) -> str:
        """A key's value as the kernel prints it, without the newline."""
        return self.key(key_path).read_text().rstrip("\n")

    def remove_keys(self, *key_paths: str) -> None:
        """Drop keys (as a network namespace of its own lacks the host-wide ones)."""
        for key_path in key_paths:
            self.key(key_path).unlink()

    def container(self, kind: str = "podman") -> None:
        """Mark the root as a container."""
        (self.root / "run" / "systemd").mkdir(parents=True, exist_ok=True)
        (self.root / "run" / "systemd" / "container").write_text(f"{kind}\n")

    def mountinfo(self, text: str) -> None:
        """Set /proc/self/mountinfo."""
        (self.root / "proc" / "self").mkdir(parents=True, exist_ok=True)
        (self.root / "proc" / "self" / "mountinfo").write_text(text)

    @property
    def file(self) -> Path:
        """The managed file."""
        return self.root / FILE


@pytest.fixture(name="host")
def fixture_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setattr(sysctl_module, "_ROOT", str(root))
    return Host(root)


@pytest.fixture(name="run")
def fixture_run(host, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **params: t.Any) -> dict[str, t.Any]:
        return run_main(sysctl_module.main, params, check=check, diff=diff, fail=fail)

    return _run


SETTINGS = {
    "net.core.somaxconn": 8192,
    "net/ipv4/tcp_rmem": "4096 87380   16777216",
    "vm.max_map_count": 262144,
    "net.ipv4.ip_forward": True,
    "vm.swappiness": "60",
}


def test_first_run_writes_live_and_file(host, run, warnings):
    result = run(settings=SETTINGS)
    assert result["changed"] is True and result["file_changed"] is True
    assert result["live_changed"] == ["net.core.somaxconn", "net.ipv4.tcp_rmem", "vm.max_map_count",
                                      "net.ipv4.ip_forward"]
    assert host.value("net/core/somaxconn") == "8192"
    assert host.value("net/ipv4/tcp_rmem") == "4096 87380 16777216"
    assert host.value("net/ipv4/ip_forward") == "1"
    assert result["values"] == {"net.core.somaxconn": "8192", "net.ipv4.tcp_rmem": "4096 87380 16777216",
                                "vm.max_map_count": "262144", "net.ipv4.ip_forward": "1", "vm.swappiness": "60"}
    assert result["namespaced"] == {"net.core.somaxconn": "net", "net.ipv4.tcp_rmem": "net",
                                    "vm.max_map_count": "none", "net.ipv4.ip_forward": "net", "vm.swappiness": "none"}
    assert result["skipped_keys"] == {} and result["container"] is None and warnings == []
    assert result["file"] == "/etc/sysctl.d/90-containerhost.conf"
    assert host.file.read_text() == (
        "# Ansible managed: containerhost.platform.sysctl\n"
        "# Changes are overwritten by the next run; change the playbook instead.\n"
        "# containerhost.platform:sysctl\n"
        "net.core.somaxconn = 8192\n"
        "net.ipv4.tcp_rmem = 4096 87380 16777216\n"
        "vm.max_map_count = 262144\n"
        "net.ipv4.ip_forward = 1\n"
        "vm.swappiness = 60\n")
    assert stat.S_IMODE(host.file.stat().st_mode) == 0o644


def test_second_run_changes_nothing(host, run):
    run(settings=SETTINGS)
    # The kernel prints several fields with tabs; they still compare equal.
    host.set_keys({"net/ipv4/tcp_rmem": "4096\t87380\t16777216"})
    before = host.file.stat().st_mtime_ns
    result = run(settings=SETTINGS)
    assert result["changed"] is False and result["live_changed"] == [] and result["file_changed"] is False
    assert host.file.stat().st_mtime_ns == before


def test_check_mode_predicts_exactly_and_writes_nothing(host, run):
    predicted = run(settings=SETTINGS, check=True, diff=True)
    assert predicted["changed"] is True and predicted["file_changed"] is True
    assert not host.file.exists()
    assert host.value("net/core/somaxconn") == "4096"
    assert predicted["values"]["net.core.somaxconn"] == "8192"
    real = run(settings=SETTINGS)
    assert {k: real[k] for k in ("changed", "live_changed", "file_changed", "values", "skipped_keys")} == \
        {k: predicted[k] for k in ("changed", "live_changed", "file_changed", "values", "skipped_keys")}
    assert run(settings=SETTINGS, check=True)["changed"] is False


def test_diff_shows_file_and_live_values(host, run):
    run(settings={"vm.swappiness": 60})
    result = run(settings={"net.core.somaxconn": 1024}, diff=True)
    file_diff, live_diff = result["diff"]
    assert file_diff["before_header"] == "/etc/sysctl.d/90-containerhost.conf"
    assert "vm.swappiness = 60\n" in file_diff["before"] and "vm.swappiness" not in file_diff["after"]
    assert file_diff["after"].endswith("net.core.somaxconn = 1024\n")
    assert live_diff == {"before_header": "/proc/sys (live)", "after_header": "/proc/sys (live)",
                         "before": "net.core.somaxconn = 4096\n", "after": "net.core.somaxconn = 1024\n"}


def test_unknown_key_fails_before_any_change_with_suggestions(host, run):
    result = run(settings={"net.core.somaxconn": 1, "net.core.somaxcon": 1, "net.bridge.bridge-nf-call-iptables": 1},
                 fail=True)
    assert result["unknown"] == ["net.core.somaxcon", "net.bridge.bridge-nf-call-iptables"]
    assert "unknown keys" in result["msg"]
    assert "net.core.somaxcon (did you mean net.core.somaxconn?)" in result["msg"]
    assert "br_netfilter" in result["msg"]
    assert host.value("net/core/somaxconn") == "4096" and not host.file.exists()


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"net.ipv4.conf.*.rp_filter": 1}, "settings['net.ipv4.conf.*.rp_filter']: 'net.ipv4.conf.*.rp_filter' is a pattern"),
        ({"-vm.swappiness": 1}, "settings['-vm.swappiness']: '-vm.swappiness' starts with '-'"),
        ({"vm swappiness": 1}, "settings['vm swappiness']: 'vm swappiness' contains ' '"),
        ({"vm.swappiness": [1]}, "settings['vm.swappiness']: [1] is a list"),
        ({"vm.swappiness": 1, "vm/swappiness": 2}, "settings['vm/swappiness']: names the same key (vm.swappiness)"),
    ],
)
def test_bad_input_fails_naming_the_setting(host, run, settings, fragment):
    result = run(settings=settings, fail=True)
    assert fragment in result["msg"]
    assert not host.file.exists() and host.value("vm/swappiness") == "60"


def test_bad_file_name_fails(host, run):
    result = run(settings={"vm.swappiness": 1}, file="../sysctl.conf", fail=True)
    assert result["msg"].startswith("file: '../sysctl.conf' is not accepted")
    result = run(settings={"vm.swappiness": 1}, file="90-x.txt", fail=True)
    assert "ends in .conf" in result["msg"]


def test_read_only_and_write_only_keys_fail_on_a_host(host, run):
    result = run(settings={"fs.file-nr": "1 2 3"}, fail=True)
    assert result["msg"] == "settings: cannot be changed live: fs.file-nr: the kernel makes this key read-only here"
    result = run(settings={"vm.drop_caches": 3}, fail=True)
    assert "vm.drop_caches: write-only key" in result["msg"]
    assert not host.file.exists()


def test_read_only_key_with_the_right_value_is_fine(host, run):
    result = run(settings={"fs.file-nr": "1024 0 9223372036854775807"})
    assert result["live_changed"] == [] and result["file_changed"] is True


def test_clamped_value_fails_naming_wanted_and_kept(host, run, monkeypatch):
    real_write = s.ProcSys.write

    def clamping_write(self, key_path, value):
        real_write(self, key_path, str(min(int(value), 65535)) if key_path == "net/core/somaxconn" else value)

    monkeypatch.setattr(s.ProcSys, "write", clamping_write)
    result = run(settings={"vm.swappiness": 10, "net.core.somaxconn": 1000000}, fail=True)
    assert "net.core.somaxconn: wanted '1000000', the kernel kept '65535'" in result["msg"]
    assert result["live_changed"] == ["vm.swappiness", "net.core.somaxconn"]
    assert not host.file.exists()


def test_value_the_kernel_refuses_fails(host, run, monkeypatch):
    def refusing_write(self, key_path, value):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(s.ProcSys, "write", refusing_write)
    result = run(settings={"vm.swappiness": "lots"}, fail=True)
    assert result["msg"].startswith("settings[vm.swappiness]: the kernel refused 'lots': Invalid argument")
    assert not host.file.exists()


def test_not_root_fails_before_writing(host, run, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = run(settings={"vm.swappiness": 10}, fail=True)
    assert "needs root" in result["msg"] and "become: true" in result["msg"]
    assert host.value("vm/swappiness") == "60"


def test_container_skips_host_wide_keys_with_reason_and_writes_file(host, run, warnings):
    host.container("podman")
    host.remove_keys(*INIT_NETNS_ONLY)
    settings = {"net.core.somaxconn": 1024, "net.core.rmem_max": 16777216, "vm.max_map_count": 262144,
                "kernel.shmmax": 68719476736, "vm.swappiness": 60}
    result = run(settings=settings)
    assert result["container"] == "podman"
    assert result["live_changed"] == ["net.core.somaxconn", "kernel.shmmax"]
    assert set(result["skipped_keys"]) == {"net.core.rmem_max", "vm.max_map_count"}
    assert result["skipped_keys"]["vm.max_map_count"].startswith("host-wide key in a container (podman)")
    assert "initial network namespace" in result["skipped_keys"]["net.core.rmem_max"]
    assert result["namespaced"]["net.core.rmem_max"] == "none"
    assert result["namespaced"]["kernel.shmmax"] == "ipc"
    assert result["values"]["net.core.rmem_max"] is None
    assert host.value("vm/max_map_count") == "65530"
    assert "net.core.rmem_max = 16777216\n" in host.file.read_text()
    assert len(warnings) == 1 and warnings[0].startswith("not changed live: net.core.rmem_max (")
    again = run(settings=settings)
    assert again["changed"] is False and set(again["skipped_keys"]) == {"net.core.rmem_max", "vm.max_map_count"}


def test_newer_kernel_namespace_holds_its_own_rmem_max(host, run, warnings):
    host.container("podman")
    host.remove_keys("net/core/netdev_max_backlog", "net/core/message_cost", "net/ipv4/tcp_mem")
    result = run(settings={"net.core.rmem_max": 16777216})
    assert result["namespaced"]["net.core.rmem_max"] == "net"
    assert result["live_changed"] == ["net.core.rmem_max"] and result["skipped_keys"] == {}
    assert host.value("net/core/rmem_max") == "16777216" and warnings == []


def test_container_apply_writes_host_wide_keys(host, run):
    host.container("podman")
    host.remove_keys(*INIT_NETNS_ONLY)
    result = run(settings={"vm.max_map_count": 262144}, in_container="apply")
    assert result["live_changed"] == ["vm.max_map_count"] and result["skipped_keys"] == {}


def test_container_sharing_the_host_network_namespace_skips_net_keys(host, run):
    host.container("docker")
    result = run(settings={"net.core.somaxconn": 1024})
    assert "shares the host's network namespace" in result["skipped_keys"]["net.core.somaxconn"]
    assert host.value("net/core/somaxconn") == "4096"


def test_read_only_proc_sys_in_a_container_is_skipped(host, run):
    host.container("docker")
    host.remove_keys(*INIT_NETNS_ONLY)
    host.mountinfo("118 22 0:45 /sys /proc/sys ro,nosuid - proc proc rw\n")
    result = run(settings={"net.core.somaxconn": 1024, "kernel.shmmax": 1024})
    assert result["skipped_keys"] == {
        "net.core.somaxconn": "read-only /proc/sys: key of the container's net namespace in a container (docker)",
        "kernel.shmmax": "read-only /proc/sys: key of the container's ipc namespace in a container (docker)",
    }
    assert result["live_changed"] == [] and result["file_changed"] is True


def test_read_only_proc_sys_on_a_host_is_skipped_not_failed(host, run):
    host.mountinfo("118 22 0:45 /sys /proc/sys ro,nosuid - proc proc rw\n")
    result = run(settings={"vm.swappiness": 10})
    assert result["skipped_keys"] == {"vm.swappiness": "/proc/sys is mounted read-only here"}


def test_purge_false_keeps_the_file_s_other_keys(host, run):
    run(settings={"vm.swappiness": 60, "vm.max_map_count": 262144})
    result = run(settings={"net.core.somaxconn": 4096, "vm.swappiness": 10}, purge=False)
    assert result["file_changed"] is True
    assert host.file.read_text().splitlines()[3:] == ["vm.swappiness = 10", "vm.max_map_count = 262144",
                                                      "net.core.somaxconn = 4096"]
    assert run(settings={"net.core.somaxconn": 4096, "vm.swappiness": 10}, purge=False)["changed"] is False
    purged = run(settings={"net.core.somaxconn": 4096, "vm.swappiness": 10})
    assert purged["file_changed"] is True and "max_map_count" not in host.file.read_text()


def test_live_false_writes_only_the_file(host, run):
    result = run(settings={"vm.swappiness": 10}, live=False)
    assert result["live_changed"] == [] and result["file_changed"] is True
    assert host.value("vm/swappiness") == "60"
    assert result["values"] == {"vm.swappiness": "60"}


def test_persistent_false_leaves_the_file(host, run):
    host.file.parent.mkdir(parents=True)
    host.file.write_text("something else\n")
    result = run(settings={"vm.swappiness": 10}, persistent=False)
    assert result["live_changed"] == ["vm.swappiness"] and result["file_changed"] is False
    assert host.file.read_text() == "something else\n"


def test_absent_removes_the_file_and_keeps_live_values(host, run, warnings):
    run(settings={"vm.swappiness": 10})
    check = run(state="absent", check=True)
    assert check["changed"] is True and host.file.exists()
    result = run(state="absent", settings={"vm.swappiness": 60}, diff=True)
    assert result["changed"] is True and result["live_changed"] == [] and not host.file.exists()
    assert result["diff"][0]["after"] == "" and "vm.swappiness = 10" in result["diff"][0]["before"]
    assert host.value("vm/swappiness") == "10"
    assert warnings == ["settings are ignored with state=absent, which removes the file only"]
    assert run(state="absent")["changed"] is False


def test_wrong_mode_is_corrected(host, run):
    run(settings={"vm.swappiness": 10})
    os.chmod(host.file, 0o600)
    result = run(settings={"vm.swappiness": 10})
    assert result["changed"] is True and result["file_changed"] is True and result["live_changed"] == []
    assert stat.S_IMODE(host.file.stat().st_mode) == 0o644


def test_foreign_file_is_replaced_with_a_warning(host, run, warnings):
    host.file.parent.mkdir(parents=True)
    host.file.write_text("vm.swappiness = 1\n")
    run(settings={"vm.swappiness": 60})
    assert "was not written by this module" in warnings[0]
    assert host.file.read_text().startswith("# Ansible managed: containerhost.platform.sysctl\n")


def test_later_file_overriding_a_key_is_reported(host, run, warnings):
    later = host.root / "etc" / "sysctl.d" / "99-local.conf"
    later.parent.mkdir(parents=True)
    later.write_text("vm.max_map_count = 65530\n")
    result = run(settings={"vm.max_map_count": 262144})
    assert result["overridden"] == {"vm.max_map_count": {"file": "/etc/sysctl.d/99-local.conf", "value": "65530"}}
    assert warnings[0].startswith("vm.max_map_count: /etc/sysctl.d/99-local.conf sets it to '65530'")


def test_misspelt_net_key_in_a_container_still_fails(host, run):
    host.container("podman")
    host.remove_keys(*INIT_NETNS_ONLY)
    result = run(settings={"net.core.somaxcon": 1024}, fail=True)
    assert "net.core.somaxcon (did you mean net.core.somaxconn?)" in result["msg"]


def test_net_key_missing_from_a_container_namespace_is_skipped(host, run):
    host.container("podman")
    host.remove_keys(*INIT_NETNS_ONLY)
    result = run(settings={"net.bridge.bridge-nf-call-iptables": 1})
    assert result["skipped_keys"]["net.bridge.bridge-nf-call-iptables"].startswith(
        "not present in this network namespace (a container (podman))")
    assert "net.bridge.bridge-nf-call-iptables = 1\n" in host.file.read_text()


def test_unreadable_key_is_written_and_shown(host, run, monkeypatch):
    host.set_keys({"net/ipv6/conf/all/stable_secret": ""})
    real_read = s.ProcSys.read
    calls = []

    def read(self, key_path):
        if key_path.endswith("stable_secret") and not calls:
            calls.append(key_path)
            raise OSError(errno.EIO, "Input/output error")
        return real_read(self, key_path)

    monkeypatch.setattr(s.ProcSys, "read", read)
    secret = "2001:db8::1"
    result = run(settings={"net.ipv6.conf.all.stable_secret": secret}, diff=True)
    assert result["live_changed"] == ["net.ipv6.conf.all.stable_secret"]
    assert result["diff"][1]["before"] == "net.ipv6.conf.all.stable_secret = (unreadable: Input/output error)\n"
    assert host.value("net/ipv6/conf/all/stable_secret") == secret
