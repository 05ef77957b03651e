# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Node fitness: requirements checked against a host_info fact set, with a fix for every failed check.

Pure: requirements and facts in, a verdict out. The few facts host_info does not gather (time synchronisation,
kernel modules, sysctls) have their parsers here too; the module reads the files and runs the commands.
"""

from __future__ import annotations

import posixpath
import re
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._hugepages import (
    describe_sizes,
    parse_size,
    size_label,
    size_name,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

# The tools host_info reports (its TOOLS), which the engines requirement may name.
ENGINE_TOOLS = ("podman", "docker", "buildah", "skopeo", "runc", "crun", "conmon")
SELINUX_CHOICES = ("enforcing", "permissive", "enabled", "disabled", "any")
DEFAULT_DISK_PATH = "/var/lib/containers"
GIB = 1024 ** 3
MIB = 1024 ** 2

# Package installs per tool, as a fix sentence says them (Debian/Ubuntu first, then Fedora/RHEL-likes).
_INSTALL = {
    "podman": "apt-get install podman, or dnf install podman",
    "docker": "apt-get install docker.io, or dnf install moby-engine",
    "buildah": "apt-get install buildah, or dnf install buildah",
    "skopeo": "apt-get install skopeo, or dnf install skopeo",
    "runc": "apt-get install runc, or dnf install runc",
    "crun": "apt-get install crun, or dnf install crun",
    "conmon": "apt-get install conmon, or dnf install conmon",
}

_VERSION_RE = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")
_REQUIRED_VERSION_RE = re.compile(r"^\d+(?:\.\d+){0,3}$")
_ENGINE_SPEC_RE = re.compile(r"^\s*(?P<name>[A-Za-z][A-Za-z0-9_-]*)\s*(?:(?P<op>>=|<=|==|!=|>|<|=)\s*"
                             r"(?P<version>\d+(?:\.\d+){0,3}))?\s*$")
_MODULE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_SYSCTL_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@+/-]*$")
_OPERATORS: dict[str, t.Callable[[int], bool]] = {
    ">=": lambda c: c >= 0, ">": lambda c: c > 0, "<=": lambda c: c <= 0, "<": lambda c: c < 0,
    "==": lambda c: c == 0, "=": lambda c: c == 0, "!=": lambda c: c != 0,
}


class FitnessError(ValueError):
    """A requirement that cannot be checked as given; the message names the field and what is accepted."""


# ---- versions

def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """Leading dotted numbers of a version or kernel release: ``6.1.0-37-amd64`` -> (6, 1, 0); None without any."""
    match = _VERSION_RE.match(text or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def compare_versions(left: Sequence[int], right: Sequence[int]) -> int:
    """-1, 0 or 1, missing parts counting as 0 (``5.10`` equals ``5.10.0``)."""
    width = max(len(left), len(right))
    a = tuple(left) + (0,) * (width - len(left))
    b = tuple(right) + (0,) * (width - len(right))
    return (a > b) - (a < b)


def parse_engine_spec(spec: t.Any) -> tuple[str, str | None, str | None]:
    """``podman>=4.0`` -> ("podman", ">=", "4.0"); ``crun`` -> ("crun", None, None). Raises FitnessError."""
    match = _ENGINE_SPEC_RE.match(spec) if isinstance(spec, str) else None
    if not match:
        raise FitnessError(f"{spec!r} is not a tool requirement; write a name, optionally with a version "
                           "such as podman>=4.0 or crun (operators: >=, >, <=, <, ==, !=)")
    name = match.group("name").lower()
    if name not in ENGINE_TOOLS:
        raise FitnessError(f"{spec!r} names {name}, which is not checked; accepted tools: {', '.join(ENGINE_TOOLS)}")
    return name, match.group("op"), match.group("version")


# ---- validating the requirements

def _number(value: t.Any, field: str, minimum: float, integer: bool = True) -> t.Any:
    """A number of at least ``minimum`` or a FitnessError naming the field."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise FitnessError(f"{field}: {value!r} is not a {'whole ' if integer else ''}number")
    if value < minimum:
        raise FitnessError(f"{field}: {value} is too small; accepted: {minimum:g} or more")
    return value


def sysctl_path(key: str) -> str:
    """The /proc/sys file of a sysctl key: dots separate levels, unless the key uses slashes (as sysctl allows)."""
    relative = key if "/" in key else key.replace(".", "/")
    return f"/proc/sys/{relative}"


def sysctl_value(value: t.Any) -> str:
    """A wanted sysctl value as the kernel prints it: booleans as 1/0, lists and runs of blanks as one space."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return " ".join(sysctl_value(part) for part in value)
    return " ".join(str(value).split())


def validate_requirements(requirements: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Check every requirement the argument spec cannot; return them normalised. Raises FitnessError."""
    req = {key: value for key, value in requirements.items() if value is not None}
    out: dict[str, t.Any] = {}
    if "kernel_min" in req:
        kernel_min = str(req["kernel_min"]).strip()
        if not _REQUIRED_VERSION_RE.match(kernel_min):
            raise FitnessError(f"requirements.kernel_min: {req['kernel_min']!r} is not a kernel version; "
                               "accepted: numbers separated by dots, such as 5.10 or 6.1.0")
        out["kernel_min"] = kernel_min
    if "cgroup_v2" in req:
        out["cgroup_v2"] = bool(req["cgroup_v2"])
    if "selinux" in req:
        if req["selinux"] not in SELINUX_CHOICES:
            raise FitnessError(f"requirements.selinux: {req['selinux']!r} is not accepted; accepted: "
                               f"{', '.join(SELINUX_CHOICES)}")
        out["selinux"] = req["selinux"]
    if "hugepages_free" in req:
        pools = []
        for index, entry in enumerate(req["hugepages_free"]):
            field = f"requirements.hugepages_free[{index}]"
            try:
                size = parse_size(entry.get("size"))
            except ValueError as exc:
                raise FitnessError(f"{field}.size: {exc}") from None
            node = entry.get("node")
            pools.append({"size_kib": size, "count": _number(entry.get("count"), f"{field}.count", 0),
                          "node": None if node is None else _number(node, f"{field}.node", 0)})
        out["hugepages_free"] = pools
    for key in ("numa_nodes_min", "cpus_min", "memory_min_mb"):
        if key in req:
            out[key] = _number(req[key], f"requirements.{key}", 0)
    if "engines" in req:
        specs = []
        for index, spec in enumerate(req["engines"]):
            try:
                specs.append((spec, *parse_engine_spec(spec)))
            except FitnessError as exc:
                raise FitnessError(f"requirements.engines[{index}]: {exc}") from None
        out["engines"] = specs
    if "disk_free" in req:
        disks = []
        for index, entry in enumerate(req["disk_free"]):
            field = f"requirements.disk_free[{index}]"
            path = entry.get("path") or DEFAULT_DISK_PATH
            if not path.startswith("/"):
                raise FitnessError(f"{field}.path: {path!r} is relative; accepted: an absolute path")
            disks.append({"path": posixpath.normpath(path), "min_gb": _number(entry.get("min_gb"), f"{field}.min_gb", 0, integer=False)})
        out["disk_free"] = disks
    if "time_synced" in req:
        out["time_synced"] = bool(req["time_synced"])
    if "kernel_modules" in req:
        for index, name in enumerate(req["kernel_modules"]):
            if not isinstance(name, str) or not _MODULE_NAME_RE.match(name):
                raise FitnessError(f"requirements.kernel_modules[{index}]: {name!r} is not a module name; "
                                   "accepted: letters, digits, _ and -, such as overlay or br_netfilter")
        out["kernel_modules"] = list(dict.fromkeys(module_name(name) for name in req["kernel_modules"]))
    if "sysctls" in req:
        sysctls = {}
        for key, value in req["sysctls"].items():
            if not isinstance(key, str) or not _SYSCTL_KEY_RE.match(key) or ".." in key or "//" in key:
                raise FitnessError(f"requirements.sysctls: {key!r} is not a sysctl name; accepted: names such as "
                                   "net.ipv4.ip_forward or net/ipv4/conf/eth0.100/forwarding")
            if value is None or isinstance(value, dict):
                raise FitnessError(f"requirements.sysctls.{key}: {value!r} is not a value; accepted: a number, a "
                                   "string, or a list such as [32768, 60999]")
            sysctls[key] = sysctl_value(value)
        out["sysctls"] = sysctls
    return out


def needed_subsets(requirements: Mapping[str, t.Any]) -> list[str]:
    """The host_info subsets the (normalised) requirements need, in host_info's order."""
    needs = {
        "kernel_min": ("kernel",), "cgroup_v2": ("cgroup", "kernel"), "selinux": ("selinux",),
        "hugepages_free": ("hugepages",), "numa_nodes_min": ("cpu",), "cpus_min": ("cpu",),
        "memory_min_mb": ("memory",), "engines": ("engines",), "disk_free": ("storage",),
        "kernel_modules": ("kernel",),
    }
    wanted = {subset for key in requirements for subset in needs.get(key, ())}
    order = ("systemd", "cgroup", "selinux", "engines", "cpu", "hugepages", "kernel", "storage", "memory")
    return [subset for subset in order if subset in wanted]


# ---- extra facts: kernel modules, time synchronisation

def module_name(name: str) -> str:
    """The kernel's spelling of a module name (dashes become underscores)."""
    return name.replace("-", "_")


def parse_proc_modules(text: str | None) -> set[str]:
    """Names of the loaded modules in /proc/modules."""
    return {line.split()[0] for line in (text or "").splitlines() if line.split()}


def parse_modules_builtin(text: str | None) -> set[str]:
    """Names of the built-in modules in modules.builtin (``kernel/fs/overlayfs/overlay.ko`` -> overlay)."""
    names = set()
    for line in (text or "").splitlines():
        base = line.strip().rsplit("/", 1)[-1]
        if base.endswith(".ko"):
            names.add(module_name(base[:-len(".ko")]))
    return names


def module_state(name: str, loaded: Iterable[str], builtin: Iterable[str], in_sys_module: bool) -> str | None:
    """``loaded``, ``built-in`` or None (neither)."""
    if name in set(loaded):
        return "loaded"
    if name in set(builtin) or in_sys_module:
        # /sys/module/<name> without a /proc/modules line is a built-in module (one with parameters).
        return "built-in"
    return None


def parse_timedatectl(text: str | None) -> bool | None:
    """``NTPSynchronized=yes`` from ``timedatectl show -p NTPSynchronized``; None when not printed."""
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "NTPSynchronized":
            return {"yes": True, "no": False}.get(value.strip().lower())
    return None


def parse_chrony_tracking(text: str | None) -> bool | None:
    """From ``chronyc -n tracking``: its Leap status line (``Normal`` when synchronised)."""
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "leap status":
            return value.strip().lower() != "not synchronised"
    return None


def parse_ntpq_peers(text: str | None) -> bool | None:
    """From ``ntpq -pn``: synchronised when a peer is selected (its line starts with ``*``); None without a table."""
    lines = (text or "").splitlines()
    if not any(line.startswith("=") for line in lines):
        return None
    return any(line.startswith("*") for line in lines)


def time_sync_facts(evidence: Sequence[Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """Combine what each source said ({source, synced}): synchronised if any says so; unknown if none answered."""
    answered = [entry for entry in evidence if entry.get("synced") is not None]
    synced = next((entry for entry in answered if entry["synced"]), None)
    chosen = synced or next(iter(answered), None)
    return {"synced": chosen["synced"] if chosen else None, "source": chosen["source"] if chosen else None,
            "evidence": [dict(entry) for entry in evidence]}


# ---- evaluation

def _check(name: str, ok: bool, wanted: t.Any, actual: t.Any, fix: str | None) -> dict[str, t.Any]:
    """One entry of fitness.checks; the fix only on a failed check."""
    return {"name": name, "ok": bool(ok), "wanted": wanted, "actual": actual, "fix": None if ok else fix}


def _on_host(container: str | None, fix: str) -> str:
    """A kernel-level fix, addressed to the host when this is a container."""
    if not container:
        return fix
    return f"this is a container ({container}), which shares its host's kernel: on the host, {fix}"


def _kernel_min(wanted: str, facts: Mapping[str, t.Any], container: str | None) -> dict[str, t.Any]:
    release = (facts.get("kernel") or {}).get("release")
    have = version_tuple(release)
    ok = have is not None and compare_versions(have, t.cast(tuple, version_tuple(wanted))) >= 0
    if have is None:
        fix = f"the kernel release ({release!r}) has no version number to compare"
    else:
        fix = _on_host(container, f"upgrade the kernel to {wanted} or later and reboot into it (running {release}); "
                                  "a distribution's backports or newer release has one")
    return _check("kernel_min", ok, f">= {wanted}", release, fix)


def _cgroup(wanted: bool, facts: Mapping[str, t.Any], container: str | None) -> dict[str, t.Any]:
    mode = (facts.get("cgroup") or {}).get("mode")
    cmdline = (facts.get("kernel") or {}).get("cmdline") or ""
    if wanted:
        ok = mode == "v2"
        fix = ("boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line (GRUB_CMDLINE_LINUX in "
               "/etc/default/grub, then update-grub or grub2-mkconfig) and reboot")
        if "systemd.unified_cgroup_hierarchy=0" in cmdline.split():
            fix += "; the command line now has systemd.unified_cgroup_hierarchy=0, remove it"
    else:
        ok = mode in ("v1", "hybrid")
        fix = ("boot with systemd.unified_cgroup_hierarchy=0 on the kernel command line for the legacy hierarchy "
               "(systemd 256 and later refuse it; prefer making the workload work on cgroup v2)")
    return _check("cgroup_v2", ok, "v2" if wanted else "v1 or hybrid", mode, _on_host(container, fix))


def _selinux(wanted: str, facts: Mapping[str, t.Any], container: str | None) -> dict[str, t.Any]:
    mode = (facts.get("selinux") or {}).get("mode")
    if wanted == "any":
        return _check("selinux", True, "any", mode, None)
    ok = mode in ("enforcing", "permissive") if wanted == "enabled" else mode == wanted
    target = "enforcing" if wanted == "enabled" else wanted
    if wanted == "disabled":
        fix = ("set SELINUX=disabled in /etc/selinux/config and reboot (ansible.posix.selinux with state: disabled); "
               "setenforce 0 makes it permissive until then")
    elif mode == "disabled" or mode is None:
        fix = ("SELinux is off in the kernel: install a policy (selinux-basics and selinux-policy-default on Debian, "
               f"selinux-policy-targeted on RHEL-likes), set SELINUX={target} in /etc/selinux/config, "
               "touch /.autorelabel and reboot")
    else:
        fix = (f"run setenforce {1 if target == 'enforcing' else 0} and set SELINUX={target} in /etc/selinux/config "
               f"(ansible.posix.selinux with state: {target})")
    return _check("selinux", ok, wanted, mode, _on_host(container, fix))


def _node_pools(facts: Mapping[str, t.Any], node: int) -> Mapping[str, t.Any] | None:
    """A node's pools from the hugepages_nodes fact; None when the node does not exist."""
    for entry in facts.get("hugepages_nodes") or []:
        if entry.get("id") == node:
            return entry.get("pools") or {}
    return None


def _hugepages_free(wanted: Mapping[str, t.Any], facts: Mapping[str, t.Any],
                    container: str | None) -> dict[str, t.Any]:
    size, count, node = wanted["size_kib"], wanted["count"], wanted["node"]
    name = f"hugepages_free[{size_name(size)}{'' if node is None else f' node {node}'}]"
    want = f">= {count} free"
    system_pools = (facts.get("hugepages") or {}).get("pools") or {}
    if node is None:
        pools: Mapping[str, t.Any] | None = system_pools
    else:
        pools = _node_pools(facts, node)
        if pools is None:
            nodes = ", ".join(str(entry.get("id")) for entry in facts.get("hugepages_nodes") or []) or "none"
            return _check(name, False, want, None, f"NUMA node {node} does not exist on this host (nodes: {nodes})")
    counters = pools.get(size_name(size))
    if counters is None:
        sizes = [int(key[:-2]) for key in pools if key.endswith("kB") and key[:-2].isdigit()]
        return _check(name, False, want, None, f"this kernel has no {size_name(size)} ({size_label(size)}) pool"
                                               f"{'' if node is None else f' on node {node}'}; available: "
                                               f"{describe_sizes(sizes)}")
    free = counters.get("free") or 0
    # Reserved pages are promised to mappings already made; they are free but not available.
    available = max(free - (counters.get("reserved") or 0), 0)
    persistent = (counters.get("total") or 0) - (counters.get("surplus") or 0)
    target = persistent + count - available
    pool = f"size: {size_label(size)}, count: {target}" + ("" if node is None else f", node: {node}")
    fix = _on_host(container, f"reserve {count - available} more pages with containerhost.platform.hugepages "
                              f"pools: [{{{pool}}}]")
    return _check(name, available >= count, want, available, fix)


def _numa(wanted: int, facts: Mapping[str, t.Any]) -> dict[str, t.Any]:
    nodes = len((facts.get("cpu") or {}).get("numa_nodes") or [])
    fix = (f"the host has {nodes} NUMA node(s): run this on a host with at least {wanted} (a VM gets them from "
           "its machine definition)")
    return _check("numa_nodes_min", nodes >= wanted, f">= {wanted}", nodes, fix)


def _cpus(wanted: int, facts: Mapping[str, t.Any]) -> dict[str, t.Any]:
    count = (facts.get("cpu") or {}).get("count") or 0
    fix = (f"{count} CPU(s) are online: give the host at least {wanted} (more vCPUs for a VM; an offline CPU comes "
           "online with echo 1 > /sys/devices/system/cpu/cpuN/online)")
    return _check("cpus_min", count >= wanted, f">= {wanted}", count, fix)


def _memory(wanted: int, facts: Mapping[str, t.Any]) -> dict[str, t.Any]:
    total = (facts.get("memory") or {}).get("total_bytes")
    mib = total // MIB if total is not None else None
    fix = (f"the host has {mib} MiB of memory: give it at least {wanted} MiB" if mib is not None
           else "MemTotal could not be read from /proc/meminfo")
    return _check("memory_min_mb", mib is not None and mib >= wanted, f">= {wanted} MiB", mib, fix)


def _engine(spec: tuple[str, str, str | None, str | None], facts: Mapping[str, t.Any]) -> dict[str, t.Any]:
    given, tool, operator, version = spec
    entry = (facts.get("engines") or {}).get(tool) or {}
    name = f"engines[{given.strip()}]"
    want = f"{tool} {operator} {version}" if operator else f"{tool} present"
    if not entry.get("present"):
        return _check(name, False, want, "absent", f"install {tool}: {_INSTALL[tool]}")
    found = entry.get("version")
    if not operator:
        return _check(name, True, want, found or "present", None)
    have = version_tuple(found)
    if have is None:
        return _check(name, False, want, "present, version unknown",
                      f"{entry.get('path')} --version printed no {tool} version: reinstall {tool}, or make sure "
                      f"{entry.get('path')} is {tool} itself and not a shim for another tool")
    ok = _OPERATORS[operator](compare_versions(have, t.cast(tuple, version_tuple(version))))
    fix = (f"{tool} {found} does not satisfy {operator} {version}: install a {tool} release that does "
           f"(a newer distribution release or its backports; {_INSTALL[tool]})")
    return _check(name, ok, want, found, fix)


def _disk(wanted: Mapping[str, t.Any], facts: Mapping[str, t.Any]) -> dict[str, t.Any]:
    path, min_gb = wanted["path"], wanted["min_gb"]
    name = f"disk_free[{path}]"
    want = f">= {min_gb:g} GiB free"
    entry = next((e for e in facts.get("storage") or [] if e.get("path") == path), None)
    if entry is None or entry.get("free_bytes") is None:
        return _check(name, False, want, None, f"the free space of {path} could not be measured")
    free = entry["free_bytes"] / GIB
    where = path if entry.get("exists", True) else f"{path} (not there yet; measured at {entry.get('measured_at')})"
    fix = (f"free {min_gb - free:.1f} GiB more on the filesystem holding {where}, which has {free:.1f} GiB free of "
           f"{(entry.get('total_bytes') or 0) / GIB:.1f} GiB: remove unused images and containers "
           "(podman system prune --all) or grow the filesystem")
    return _check(name, free >= min_gb, want, round(free, 2), fix)


def _time(wanted: bool, facts: Mapping[str, t.Any], container: str | None) -> dict[str, t.Any] | None:
    if not wanted:
        return None
    sync = facts.get("time_sync") or {}
    synced, source = sync.get("synced"), sync.get("source")
    if synced is None:
        fix = ("no time service answered (timedatectl, systemd-timesyncd, chrony, ntpd): install and enable one, "
               "such as apt-get install systemd-timesyncd (or chrony) and systemctl enable --now systemd-timesyncd")
        if container:
            fix = f"this is a container ({container}), whose clock is its host's: synchronise the host's clock"
    else:
        fix = _on_host(container, f"the clock is not synchronised (according to {source}): check that the time "
                                  "service reaches its servers (timedatectl timesync-status, chronyc sources) "
                                  "and that UDP port 123 is open to them")
    return _check("time_synced", synced is True, True, {"synced": synced, "source": source}, fix)


def _kernel_module(name: str, facts: Mapping[str, t.Any], container: str | None) -> dict[str, t.Any]:
    state = (facts.get("kernel_modules") or {}).get(name)
    if container:
        fix = (f"this is a container ({container}), which cannot load kernel modules: on the host, modprobe {name} "
               f"and list it in /etc/modules-load.d/")
    else:
        fix = (f"load {name} now and at every boot: containerhost.platform.kernel_module modules: [{{name: {name}}}] "
               f"(by hand: modprobe {name}, and a line '{name}' in a file in /etc/modules-load.d/)")
    return _check(f"kernel_modules[{name}]", state is not None, "loaded", state or "not loaded", fix)


def _sysctl(key: str, wanted: str, facts: Mapping[str, t.Any], container: str | None) -> dict[str, t.Any]:
    actual = (facts.get("sysctls") or {}).get(key)
    if actual is None:
        fix = (f"{key} does not exist on this kernel ({sysctl_path(key)}): the module that provides it is not loaded "
               "(containerhost.platform.kernel_module), or the name is wrong")
    else:
        shell_value = f"'{wanted}'" if " " in wanted else wanted
        fix = (f"set it now and at every boot: containerhost.platform.sysctl settings: {{{key}: {wanted}}} "
               f"(by hand: sysctl -w {key}={shell_value}, and '{key} = {wanted}' in a file in /etc/sysctl.d/)")
        if container:
            fix += f"; in a container ({container}) only namespaced sysctls (net.*, some kernel.*) can be set"
    return _check(f"sysctls[{key}]", actual == wanted, wanted, actual, fix)


def evaluate(requirements: Mapping[str, t.Any], facts: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The verdict for normalised requirements (validate_requirements) against a fact set.

    ``facts`` has host_info's groups plus ``container``, ``hugepages_nodes`` ([{id, pools}]), ``time_sync``,
    ``kernel_modules`` (name -> loaded/built-in/None) and ``sysctls`` (key -> value or None).
    """
    container = facts.get("container")
    checks: list[dict[str, t.Any] | None] = []
    req = requirements
    if "kernel_min" in req:
        checks.append(_kernel_min(req["kernel_min"], facts, container))
    if "cgroup_v2" in req:
        checks.append(_cgroup(req["cgroup_v2"], facts, container))
    if "selinux" in req:
        checks.append(_selinux(req["selinux"], facts, container))
    for pool in req.get("hugepages_free", []):
        checks.append(_hugepages_free(pool, facts, container))
    if "numa_nodes_min" in req:
        checks.append(_numa(req["numa_nodes_min"], facts))
    if "cpus_min" in req:
        checks.append(_cpus(req["cpus_min"], facts))
    if "memory_min_mb" in req:
        checks.append(_memory(req["memory_min_mb"], facts))
    for spec in req.get("engines", []):
        checks.append(_engine(spec, facts))
    for disk in req.get("disk_free", []):
        checks.append(_disk(disk, facts))
    if "time_synced" in req:
        checks.append(_time(req["time_synced"], facts, container))
    for name in req.get("kernel_modules", []):
        checks.append(_kernel_module(name, facts, container))
    for key, value in req.get("sysctls", {}).items():
        checks.append(_sysctl(key, value, facts, container))
    done = [check for check in checks if check is not None]
    failed = [check["name"] for check in done if not check["ok"]]
    return {"verdict": "unfit" if failed else "fit", "checks": done, "failed": failed}


def summary(fitness: Mapping[str, t.Any]) -> str:
    """One line for msg: ``fit: 7 checks passed`` or ``unfit: 2 of 7 checks failed: a, b``."""
    total = len(fitness["checks"])
    if fitness["verdict"] == "fit":
        return f"fit: {total} check{'s' if total != 1 else ''} passed"
    return f"unfit: {len(fitness['failed'])} of {total} checks failed: {', '.join(fitness['failed'])}"
