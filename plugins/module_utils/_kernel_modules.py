# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Kernel modules: names and parameters, modules-load.d and modprobe.d files, /sys/module, and the modprobe runner."""

from __future__ import annotations

import difflib
import os
import re
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._sysctl import host_path, read_text

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible.module_utils.basic import AnsibleModule

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# One parameter value on a modprobe command line or options line: no whitespace, quotes, comments or escapes.
_VALUE_RE = re.compile(r"^[^\s\"'#\\]+$")
# Bit of CAP_SYS_MODULE in the capability sets of /proc/<pid>/status.
CAP_SYS_MODULE = 16
# Parameter types whose values are integers (kernel/params.c), alone or in arrays.
INT_TYPES = frozenset(("byte", "short", "ushort", "int", "uint", "long", "ulong", "ullong", "hexint"))
BOOL_TYPES = frozenset(("bool", "invbool", "bint"))
# modprobe.d(5) directories, first one winning for a file name.
MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d",
                 "/lib/modprobe.d")
# install commands that stop a module from loading.
_REFUSING_INSTALL_RE = re.compile(r"^(/usr)?/bin/(true|false)$|^/bin/sh -c ['\"]?(exit 1|false)")


class KernelModuleError(ValueError):
    """A module name or parameter that cannot be used; the message names the field and what is accepted."""


def canonical_name(name: str) -> str:
    """The kernel's name for a module or parameter: modprobe treats dashes and underscores alike."""
    return name.replace("-", "_")


def validate_name(name: t.Any, field: str) -> str:
    """Return a module or parameter name or raise KernelModuleError naming the field."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise KernelModuleError(f"{field}: {name!r} is not accepted; a name is made of letters, digits, _ and -")
    return name


def param_text(value: t.Any, field: str) -> str:
    """A parameter value as modprobe passes it: booleans as 1/0, numbers as text; one word."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list) and value and all(isinstance(item, (int, str)) and not isinstance(item, bool)
                                                 for item in value):
        value = ",".join(str(item) for item in value)
    if not isinstance(value, str):
        raise KernelModuleError(f"{field}: {value!r} is a {type(value).__name__}; a value is a string, an integer, a "
                                "boolean or a list of them (an array parameter)")
    if not _VALUE_RE.match(value):
        raise KernelModuleError(f"{field}: {value!r} is not accepted; a value is one word without whitespace, quotes, "
                                "'#' or backslashes")
    return value


def normalize_params(params: t.Any, where: str) -> dict[str, str]:
    """Validate a params mapping: canonical parameter names to value text."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise KernelModuleError(f"{where}: params: {params!r} is not a mapping of parameter names to values")
    normalized: dict[str, str] = {}
    for name, value in params.items():
        field = f"{where}: params.{name}"
        canonical = canonical_name(validate_name(name, field))
        if canonical in normalized:
            raise KernelModuleError(f"{field}: the same parameter as another one (- and _ are the same); give it once")
        normalized[canonical] = param_text(value, field)
    return normalized


def kstrtobool(text: str) -> bool | None:
    """The kernel's reading of a boolean (y/Y/1/on, n/N/0/off); None when it is not one."""
    if not text:
        return None
    first = text[0]
    if first in "yY1":
        return True
    if first in "nN0":
        return False
    if first in "oO" and len(text) > 1:
        return {"n": True, "N": True, "f": False, "F": False}.get(text[1])
    return None


def _item_equal(wanted: str, actual: str) -> bool:
    """One value (or array element): numbers as numbers (0x10 is 16), everything else as text."""
    try:
        return int(wanted, 0) == int(actual, 0)
    except ValueError:
        return wanted == actual


def param_equal(wanted: str, actual: str) -> bool:
    """Whether a parameter's sysfs value is the wanted one (sysfs prints booleans as Y/N, arrays comma-separated)."""
    actual = actual.strip()
    if actual in ("Y", "N"):
        wanted_bool = kstrtobool(wanted)
        return wanted_bool is not None and wanted_bool == (actual == "Y")
    wanted_items, actual_items = wanted.split(","), actual.split(",")
    return len(wanted_items) == len(actual_items) and all(map(_item_equal, wanted_items, actual_items))


def parse_parmtypes(text: str) -> dict[str, str]:
    """``modinfo -F parmtype`` output (``name:type`` lines): canonical parameter name to type."""
    types = {}
    for line in text.splitlines():
        name, sep, kind = line.strip().partition(":")
        if sep and name:
            types[canonical_name(name)] = kind.strip()
    return types


def check_param_types(params: Mapping[str, str], types: Mapping[str, str],
                      where: str) -> tuple[list[str], list[str]]:
    """Values the module's parameter types refuse, and names modinfo does not list.

    A parameter declared without a type (module_param_call, such as nf_conntrack's hashsize) is missing from
    modinfo's list, so an unlisted name is refused only when it is a near miss of a listed one (a typo); otherwise it
    is returned for a warning and the kernel checks it when the module loads.
    """
    errors, unlisted = [], []
    for name, value in params.items():
        if name not in types:
            near = difflib.get_close_matches(name, list(types), n=1, cutoff=0.8)
            if near:
                errors.append(f"{where}: params.{name}: the module has no such parameter (did you mean {near[0]}? "
                              f"it has: {', '.join(sorted(types))})")
            else:
                unlisted.append(f"{where}: params.{name}")
            continue
        kind = types[name]
        base = kind[len("array of "):] if kind.startswith("array of ") else kind
        items = value.split(",") if kind.startswith("array of ") else [value]
        if base in INT_TYPES:
            for item in items:
                try:
                    int(item, 0)
                except ValueError:
                    errors.append(f"{where}: params.{name}: {value!r} is not a number ({kind})")
                    break
        elif base in BOOL_TYPES and any(kstrtobool(item) is None for item in items):
            errors.append(f"{where}: params.{name}: {value!r} is not a boolean ({kind}: 1/0, y/n, on/off)")
    return errors, unlisted


def render_modules_load(header_lines: Sequence[str], names: Sequence[str]) -> str | None:
    """A modules-load.d file: header comments, one module per line; None when no module is listed."""
    if not names:
        return None
    lines = [f"# {line}" if line else "#" for line in header_lines]
    lines.extend(names)
    return "\n".join(lines) + "\n"


def render_modprobe_options(header_lines: Sequence[str], entries: Sequence[tuple[str, Mapping[str, str]]]) -> str | None:
    """A modprobe.d file: header comments, one ``options`` line per module with parameters; None when there is none."""
    lines = [f"options {name} {' '.join(f'{key}={value}' for key, value in params.items())}"
             for name, params in entries if params]
    if not lines:
        return None
    return "\n".join([f"# {line}" if line else "#" for line in header_lines] + lines) + "\n"


def parse_modules_load(text: str | None) -> list[str]:
    """Module names listed in a modules-load.d file (comments are # or ;)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip() and line.strip()[0] not in "#;"]


def parse_modprobe_conf(text: str | None) -> list[tuple[str, str, str]]:
    """``(command, module, rest)`` for each command of a modprobe.d file (continuation lines joined)."""
    commands = []
    logical = ""
    for raw in (text or "").splitlines():
        if raw.endswith("\\"):
            logical += raw[:-1] + " "
            continue
        line, logical = (logical + raw).strip(), ""
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) >= 2:
            commands.append((parts[0], canonical_name(parts[1]), parts[2] if len(parts) > 2 else ""))
    return commands


def parse_options(rest: str) -> dict[str, str]:
    """``a=1 b`` of an options line: canonical parameter name to value (a bare name is a boolean set to Y)."""
    options = {}
    for word in rest.split():
        name, sep, value = word.partition("=")
        options[canonical_name(name)] = value if sep else "Y"
    return options


def foreign_rules(root: str, own_file: str, params: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """What other modprobe.d files say about declared modules that may undo them: module -> descriptions.

    Reported: install commands that refuse to load the module, and options for a declared parameter with another
    value (all options lines of a module are applied, in file name order).
    """
    seen: dict[str, str] = {}
    for directory in MODPROBE_DIRS:
        full = host_path(root, directory)
        if os.path.isdir(full):
            for name in sorted(os.listdir(full)):
                if name.endswith(".conf") and name not in seen:
                    seen[name] = os.path.join(directory, name)
    found: dict[str, list[str]] = {}
    for name in sorted(seen):
        path = seen[name]
        if path == own_file:
            continue
        for command, module, rest in parse_modprobe_conf(read_text(host_path(root, path))):
            if module not in params:
                continue
            if command == "install" and _REFUSING_INSTALL_RE.match(rest.strip()):
                found.setdefault(module, []).append(f"{path}: 'install {module} {rest.strip()}' refuses to load it")
            elif command == "options":
                for key, value in parse_options(rest).items():
                    if key in params[module] and not param_equal(params[module][key], value):
                        found.setdefault(module, []).append(f"{path}: sets {key}={value}")
    return found


class SysModules:
    """What the running kernel says about modules, below ``root``: /sys/module, /lib/modules, capabilities."""

    def __init__(self, root: str = "/", release: str | None = None) -> None:
        self.root = root
        self.release = release or os.uname().release
        self._builtin: frozenset[str] | None = None

    @property
    def modules_dir(self) -> str:
        """The host path of the running kernel's modules."""
        return f"/lib/modules/{self.release}"

    def has_modules_dir(self) -> bool:
        """Whether the running kernel's modules are installed where modprobe looks."""
        return os.path.isdir(host_path(self.root, self.modules_dir))

    def _sys(self, name: str, *parts: str) -> str:
        return host_path(self.root, os.path.join("/sys/module", canonical_name(name), *parts))

    def builtin_names(self) -> frozenset[str]:
        """Modules built into the kernel (modules.builtin), by canonical name."""
        if self._builtin is None:
            text = read_text(host_path(self.root, f"{self.modules_dir}/modules.builtin")) or ""
            names = set()
            for line in text.splitlines():
                base = os.path.basename(line.strip())
                if base:
                    names.add(canonical_name(base.split(".ko")[0]))
            self._builtin = frozenset(names)
        return self._builtin

    def state(self, name: str) -> str | None:
        """``live`` (or ``coming``/``going``) for a loaded module, ``builtin``, or None when not in the kernel.

        Built-in modules have a /sys/module directory only when they have parameters, and never an initstate.
        """
        if os.path.isdir(self._sys(name)):
            initstate = read_text(self._sys(name, "initstate"))
            return initstate.strip() if initstate is not None else "builtin"
        return "builtin" if canonical_name(name) in self.builtin_names() else None

    def param_values(self, name: str, params: Sequence[str]) -> dict[str, str | None]:
        """The sysfs value of each parameter; None where the kernel does not show it (registered without perms)."""
        values: dict[str, str | None] = {}
        for param in params:
            try:
                text = read_text(self._sys(name, "parameters", param))
            except OSError:
                text = None
            values[param] = None if text is None else text.strip()
        return values

    def users(self, name: str) -> list[str]:
        """Why a loaded module cannot be removed: modules holding it and a reference count above zero."""
        holders_dir = self._sys(name, "holders")
        holders = sorted(os.listdir(holders_dir)) if os.path.isdir(holders_dir) else []
        refcnt = (read_text(self._sys(name, "refcnt")) or "0").strip()
        reasons = [f"used by {', '.join(holders)}"] if holders else []
        if refcnt.isdigit() and int(refcnt) > 0 and not holders:
            reasons.append(f"reference count {refcnt}")
        return reasons

    def can_load(self) -> bool | None:
        """Whether this process has CAP_SYS_MODULE (None when /proc/self/status cannot tell)."""
        for line in (read_text(host_path(self.root, "/proc/self/status")) or "").splitlines():
            if line.startswith("CapEff:"):
                try:
                    return bool(int(line.split(":", 1)[1].strip(), 16) >> CAP_SYS_MODULE & 1)
                except ValueError:
                    return None
        return None

    def loading_disabled(self) -> bool:
        """Whether kernel.modules_disabled forbids loading and unloading until the next boot."""
        return (read_text(host_path(self.root, "/proc/sys/kernel/modules_disabled")) or "0").strip() == "1"


class ModprobeError(RuntimeError):
    """A modprobe or modinfo run that failed; carries argv, rc and output."""

    def __init__(self, argv: list[str], rc: int, stdout: str, stderr: str) -> None:
        detail = (stderr or stdout).strip() or f"exit code {rc}"
        super().__init__(detail)
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr

    def result(self) -> dict[str, t.Any]:
        """Fields for fail_json."""
        return {"cmd": self.argv, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


class Modprobe:
    """modprobe and modinfo, run with argv lists in the C locale."""

    ENVIRON = {"LC_ALL": "C", "LANG": "C"}

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.modprobe = module.get_bin_path("modprobe", opt_dirs=["/usr/sbin", "/sbin"])
        self.modinfo = module.get_bin_path("modinfo", opt_dirs=["/usr/sbin", "/sbin"])
        self.calls: list[list[str]] = []

    def _run(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        return self.module.run_command(argv, environ_update=self.ENVIRON)

    def resolve(self, name: str) -> list[str]:
        """The modules a name (module or alias) stands for; ModprobeError when the kernel has none of that name."""
        argv = [self.modprobe, "--resolve-alias", name]
        rc, out, err = self._run(argv)
        names = [canonical_name(line.strip()) for line in out.splitlines() if line.strip()]
        if rc != 0 or not names:
            raise ModprobeError(argv, rc, out, err or f"module {name} not found")
        return names

    def load(self, name: str, params: Mapping[str, str]) -> None:
        """Load a module (and what it depends on) with parameters."""
        argv = [self.modprobe, name, *(f"{key}={value}" for key, value in params.items())]
        rc, out, err = self._run(argv)
        if rc != 0:
            raise ModprobeError(argv, rc, out, err)

    def unload(self, name: str) -> None:
        """Remove a module (and dependencies nothing else uses)."""
        argv = [self.modprobe, "--remove", name]
        rc, out, err = self._run(argv)
        if rc != 0:
            raise ModprobeError(argv, rc, out, err)

    def parmtypes(self, name: str) -> dict[str, str] | None:
        """The module's parameters and their types (modinfo); None when modinfo cannot tell."""
        if not self.modinfo:
            return None
        rc, out, dummy_err = self._run([self.modinfo, "-F", "parmtype", name])
        return parse_parmtypes(out) if rc == 0 else None
