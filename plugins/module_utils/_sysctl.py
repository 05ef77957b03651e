# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Kernel parameters (sysctl): key and value syntax, namespaces, sysctl.d files and the /proc/sys tree."""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import stat
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

# One path component of a key: interface names bring ':', '+', '@' and (in slash form) dots.
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_.:+@-]+$")
# sysctl.d patterns, which a declared key may not use (it names exactly one file).
_GLOB_CHARS = frozenset("*?[]")

# Keys the IPC namespace holds (ipc_sysctls.c, mq_sysctl.c); fs.mqueue.* is matched by prefix.
IPC_KEYS = frozenset((
    "kernel.shmmax", "kernel.shmall", "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.shm_next_id",
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.msg_next_id", "kernel.auto_msgmni",
    "kernel.sem", "kernel.sem_next_id",
))
UTS_KEYS = frozenset(("kernel.hostname", "kernel.domainname"))
# net.* keys the kernel registers for the initial network namespace only (net_core_table and the global part of
# ipv4_table, nf_conntrack's net.nf_conntrack_max): they act host-wide and a container's own namespace lacks them.
HOST_NET_KEYS = frozenset((
    "net.core.rmem_default", "net.core.rmem_max", "net.core.wmem_default", "net.core.wmem_max",
    "net.core.netdev_max_backlog", "net.core.netdev_budget", "net.core.netdev_budget_usecs", "net.core.dev_weight",
    "net.core.dev_weight_rx_bias", "net.core.dev_weight_tx_bias", "net.core.default_qdisc", "net.core.busy_poll",
    "net.core.busy_read", "net.core.bpf_jit_enable", "net.core.bpf_jit_harden", "net.core.bpf_jit_kallsyms",
    "net.core.bpf_jit_limit", "net.core.flow_limit_cpu_bitmap", "net.core.flow_limit_table_len",
    "net.core.rps_sock_flow_entries", "net.core.message_burst", "net.core.message_cost", "net.core.warnings",
    "net.core.netdev_tstamp_prequeue", "net.core.max_skb_frags", "net.core.high_order_alloc_disable",
    "net.core.gro_normal_batch", "net.core.netdev_unregister_timeout_secs", "net.core.skb_defer_max",
    "net.core.devconf_inherit_init_net", "net.core.fb_tunnels_only_for_init_net", "net.core.tstamp_allow_data",
    "net.ipv4.tcp_mem", "net.ipv4.udp_mem", "net.ipv4.inet_peer_threshold", "net.ipv4.inet_peer_minttl",
    "net.ipv4.inet_peer_maxttl", "net.nf_conntrack_max",
))
# Registered for the initial network namespace only, on old and new kernels alike (rmem_max and friends became
# per-namespace in 6.x, so they cannot serve): all of them missing marks a namespace of its own.
_INIT_NETNS_MARKERS = ("net/core/netdev_max_backlog", "net/core/message_cost", "net/ipv4/tcp_mem")

# Keys that only appear once a kernel module is loaded (or a feature is enabled).
_MODULE_HINTS = (
    ("net.bridge.", "net.bridge.* keys appear once the br_netfilter module is loaded"),
    ("net.netfilter.nf_conntrack", "nf_conntrack keys appear once the nf_conntrack module is loaded"),
    ("net.nf_conntrack_max", "it appears once the nf_conntrack module is loaded"),
    ("net.ipv4.vs.", "net.ipv4.vs.* keys appear once the ip_vs module is loaded"),
    ("net.ipv6.", "net.ipv6.* keys are missing when IPv6 is disabled (ipv6.disable=1) or the ipv6 module is not loaded"),
    ("kernel.yama.", "kernel.yama.* keys exist only with the Yama security module"),
)

# systemd-sysctl and `sysctl --system` read *.conf files from these directories, ordered by file name across all of
# them; a name in an earlier directory hides the same name in later ones.
SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
# procps reads it after all of them (Debian links it as /etc/sysctl.d/99-sysctl.conf for systemd).
SYSCTL_CONF = "/etc/sysctl.conf"

# Where containers announce themselves: systemd, podman, docker; PID 1's environment as a last resort.
_CONTAINER_MARKERS = (("run/systemd/container", None), ("run/.containerenv", "podman"), (".dockerenv", "docker"))


class SysctlError(ValueError):
    """A key or value that cannot be used; the message says why and what is accepted."""


def parse_key(raw: t.Any) -> tuple[str, str]:
    """Return ``(dotted name, path below /proc/sys)`` for a key in dotted or slash form, as sysctl.d(5) reads it.

    In dotted form a ``/`` stands for a dot inside one component (``net.ipv4.conf.eth0/10.rp_filter`` is interface
    ``eth0.10``); a key whose first separator is ``/`` is a path and keeps its dots.
    """
    if not isinstance(raw, str):
        raise SysctlError(f"{raw!r} is not a string; a key is a name such as net.core.somaxconn")
    key = raw.strip()
    if key.startswith("/proc/sys/"):
        key = key[len("/proc/sys/"):]
    if not key:
        raise SysctlError("the key is empty; a key is a name such as net.core.somaxconn")
    if key.startswith("-"):
        raise SysctlError(f"{raw!r} starts with '-' (sysctl.d's ignore-failure prefix); give the bare key: "
                          "unknown keys fail here and keys a container cannot change are reported as skipped")
    if _GLOB_CHARS & set(key):
        raise SysctlError(f"{raw!r} is a pattern; declare each key by its full name")
    first_separator = next((c for c in key if c in "./"), ".")
    if first_separator == "/":
        components = key.strip("/").split("/")
    else:
        components = [part.replace("/", ".") for part in key.split(".")]
    for component in components:
        if not component or component in (".", ".."):
            raise SysctlError(f"{raw!r} has an empty component; a key is a name such as net.core.somaxconn")
        if not _COMPONENT_RE.match(component):
            bad = "".join(sorted({c for c in component if not _COMPONENT_RE.match(c)}))
            raise SysctlError(f"{raw!r} contains {bad!r}; keys are made of letters, digits and _ - : + @ "
                              "separated by dots")
    if len(components) < 2:
        raise SysctlError(f"{raw!r} names no key below a subsystem; a key is a name such as net.core.somaxconn")
    return ".".join(c.replace(".", "/") for c in components), "/".join(components)


def normalize_value(value: t.Any) -> str:
    """A value as the kernel reads it: booleans as 1/0, numbers as text, whitespace collapsed to single spaces."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise SysctlError(f"{value!r} is a {type(value).__name__}; a value is a string or an integer "
                          "(several numbers as one string, such as '4096 87380 6291456')")
    if any(ord(c) < 32 and c not in " \t" or ord(c) == 127 for c in value):
        raise SysctlError(f"{value!r} contains a control character (such as a newline), which a sysctl.d line "
                          "cannot hold")
    text = " ".join(value.split())
    if not text:
        raise SysctlError("the value is empty; give the value, or drop the key from settings to stop managing it")
    return text


def values_equal(first: str | None, second: str | None) -> bool:
    """Whether two values are the same, field by field (the kernel separates fields with tabs)."""
    if first is None or second is None:
        return first is second
    return first.split() == second.split()


def namespace_of(name: str) -> str:
    """The namespace that holds a key: ``net``, ``ipc``, ``uts``, ``user``, or ``none`` for host-wide keys."""
    if name.startswith("net."):
        return "none" if name in HOST_NET_KEYS else "net"
    if name in IPC_KEYS or name.startswith("fs.mqueue."):
        return "ipc"
    if name in UTS_KEYS:
        return "uts"
    if name.startswith("user."):
        return "user"
    return "none"


def module_hint(name: str) -> str | None:
    """Why a known family of keys may be missing, when the key belongs to one."""
    return next((hint for prefix, hint in _MODULE_HINTS if name.startswith(prefix)), None)


def suggest(name: str, candidates: Iterable[str]) -> list[str]:
    """Existing keys that look like a misspelt one, best first."""
    return difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.75)


def parse_sysctl_conf(text: str | None) -> dict[str, str]:
    """The assignments of a sysctl.d file, in file order (a key assigned twice keeps its last value).

    Keys are normalized to dotted names; patterns and keys this module would refuse are kept as written, so that
    they can still be matched against.
    """
    entries: dict[str, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip().lstrip("-").strip()
        try:
            key = parse_key(key)[0]
        except SysctlError:
            pass
        entries.pop(key, None)
        entries[key] = " ".join(value.split())
    return entries


def merge_settings(existing: Mapping[str, str], wanted: Mapping[str, str], purge: bool) -> dict[str, str]:
    """The file's assignments: the wanted ones, plus (without purge) the file's others, which keep their place."""
    if purge:
        return dict(wanted)
    merged = {key: wanted.get(key, value) for key, value in existing.items()}
    merged.update((key, value) for key, value in wanted.items() if key not in merged)
    return merged


def render_sysctl_conf(header_lines: Sequence[str], settings: Mapping[str, str]) -> str:
    """A sysctl.d file: ``# header`` lines, then one ``key = value`` line per setting."""
    lines = [f"# {line}" if line else "#" for line in header_lines]
    lines.extend(f"{key} = {value}" for key, value in settings.items())
    return "\n".join(lines) + "\n"


def host_path(root: str, path: str) -> str:
    """An absolute host path below ``root`` (tests use a directory in place of /)."""
    return os.path.join(root, path.lstrip("/"))


def read_text(path: str) -> str | None:
    """A file's text, or None when it does not exist (or is a dangling link)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def detect_container(root: str = "/") -> str | None:
    """The container manager this host runs under (``podman``, ``docker``, ``lxc``, ...), or None on a host."""
    for path, kind in _CONTAINER_MARKERS:
        full = host_path(root, path)
        if os.path.isfile(full):
            return kind or (read_text(full) or "").strip() or "container"
    try:
        with open(host_path(root, "/proc/1/environ"), "rb") as handle:
            environ = handle.read().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"container="):
            return entry[len(b"container="):].decode("utf-8", "replace") or "container"
    return None


def file_mode_right(path: str, mode: int = 0o644) -> bool:
    """Whether an existing file has ``mode`` and, when we run as root, belongs to root."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return True
    if stat.S_IMODE(info.st_mode) != mode:
        return False
    return os.geteuid() != 0 or (info.st_uid, info.st_gid) == (0, 0)


def _unescape_mountinfo(text: str) -> str:
    """Undo the octal escapes of /proc/self/mountinfo paths."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)


def read_only_mounts(mountinfo: str) -> list[tuple[str, bool]]:
    """``(mount point, read-only)`` for each mount, in mount order (a later mount covers an earlier one)."""
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) >= 6:
            mounts.append((_unescape_mountinfo(fields[4]), "ro" in fields[5].split(",")))
    return mounts


class ProcSys:
    """The /proc/sys tree below ``root``: reading, writing, and why a key cannot be written."""

    def __init__(self, root: str = "/") -> None:
        self.root = root
        self.base = host_path(root, "/proc/sys")
        self._mounts: list[tuple[str, bool]] | None = None

    def path(self, key_path: str) -> str:
        """The file of a key."""
        return os.path.join(self.base, key_path)

    def exists(self, key_path: str) -> bool:
        """Whether the kernel has the key (here)."""
        return os.path.isfile(self.path(key_path))

    def read(self, key_path: str) -> str | None:
        """The key's value with whitespace collapsed, or None when the key does not exist."""
        text = read_text(self.path(key_path))
        return None if text is None else " ".join(text.split())

    def write(self, key_path: str, value: str) -> None:
        """Write a value; OSError carries the kernel's refusal (EINVAL for a value out of range)."""
        with open(self.path(key_path), "w", encoding="utf-8") as handle:
            handle.write(f"{value}\n")

    def write_only(self, key_path: str) -> bool:
        """Whether a key can only be written (an action such as vm.drop_caches, with no value to compare)."""
        return not os.stat(self.path(key_path)).st_mode & 0o444

    def mount_read_only(self, key_path: str) -> bool:
        """Whether the mount the key's file is on is read-only (containers mount /proc/sys so)."""
        if self._mounts is None:
            self._mounts = read_only_mounts(read_text(host_path(self.root, "/proc/self/mountinfo")) or "")
        target = f"/proc/sys/{key_path}"
        best: tuple[int, bool] = (-1, False)
        for point, read_only in self._mounts:
            if target == point or target.startswith(point.rstrip("/") + "/"):
                if len(point) >= best[0]:
                    best = (len(point), read_only)
        return best[1]

    def unwritable(self, key_path: str) -> tuple[str, str] | None:
        """Why the key cannot be written, as ``(kind, reason)``; None when it can.

        Kinds: ``ro-mount`` (read-only /proc/sys mount), ``ro-key`` (the kernel makes the key read-only here),
        ``not-owned`` (another user namespace owns it), ``denied`` (access refused for another reason).
        """
        if self.mount_read_only(key_path):
            return "ro-mount", "/proc/sys is mounted read-only here"
        info = os.stat(self.path(key_path))
        if not info.st_mode & 0o222:
            return "ro-key", "the kernel makes this key read-only here"
        if os.geteuid() == 0 and info.st_uid != 0:
            return "not-owned", (f"the key belongs to uid {info.st_uid}: this user namespace does not own it "
                                 "(an unprivileged container)")
        if not os.access(self.path(key_path), os.W_OK):
            return "denied", "writing is not permitted to this process"
        return None

    def in_child_netns(self) -> bool:
        """Whether this process has a network namespace of its own (the host-wide net keys are missing)."""
        if not os.path.isdir(os.path.join(self.base, "net", "core")):
            return False
        return not any(os.path.exists(os.path.join(self.base, marker)) for marker in _INIT_NETNS_MARKERS)

    def nearby_keys(self, key_path: str, limit: int = 5000) -> list[str]:
        """Dotted names of existing keys near a missing one (below its deepest existing parent, 3 levels down)."""
        parent = os.path.dirname(key_path)
        while parent and not os.path.isdir(os.path.join(self.base, parent)):
            parent = os.path.dirname(parent)
        start = os.path.join(self.base, parent)
        found: list[str] = []
        for current, dirs, files in os.walk(start):
            depth = 0 if current == start else os.path.relpath(current, start).count(os.sep) + 1
            if depth >= 2:
                dirs[:] = []
            dirs.sort()
            for name in sorted(files):
                relative = os.path.relpath(os.path.join(current, name), self.base)
                found.append(".".join(part.replace(".", "/") for part in relative.split(os.sep)))
                if len(found) >= limit:
                    return found
        return found


def sysctl_files(root: str = "/") -> list[tuple[str, str]]:
    """``(file name, host path)`` of every sysctl.d file in the order they are applied at boot."""
    chosen: dict[str, str] = {}
    for directory in SYSCTL_DIRS:
        full = host_path(root, directory)
        if not os.path.isdir(full):
            continue
        for name in sorted(os.listdir(full)):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = os.path.join(directory, name)
    ordered = sorted(chosen.items())
    seen = {os.path.realpath(host_path(root, path)) for dummy, path in ordered}
    if os.path.isfile(host_path(root, SYSCTL_CONF)) and os.path.realpath(host_path(root, SYSCTL_CONF)) not in seen:
        ordered.append((os.path.basename(SYSCTL_CONF), SYSCTL_CONF))
    return ordered


def boot_overrides(root: str, own_name: str, settings: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Declared keys that a file applied after ours at boot sets to another value: key -> file and value."""
    overrides: dict[str, dict[str, str]] = {}
    for name, path in sysctl_files(root):
        # Our own file hides any file of the same name in the later directories.
        if name <= own_name and path != SYSCTL_CONF:
            continue
        for pattern, value in parse_sysctl_conf(read_text(host_path(root, path))).items():
            for key, wanted in settings.items():
                if (key == pattern or fnmatch.fnmatchcase(key, pattern)) and not values_equal(value, wanted):
                    overrides[key] = {"file": path, "value": value}
    return overrides
