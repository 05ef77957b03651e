# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_module
short_description: Load kernel modules now and at boot, with parameters, many in one task
version_added: 0.1.0
description:
  - Loads and unloads kernel modules with C(modprobe), with parameters, and lists them in one C(modules-load.d)
    file (loaded at boot by systemd-modules-load) and their parameters in one C(modprobe.d) file. Both files are
    owned whole by the module.
  - Whether a module is loaded, built in, and with which parameters is read from C(/sys/module); a module is only
    loaded (or unloaded) when the kernel says it must be, so a run with nothing to do runs no command.
  - Every module that has to be loaded is looked up (C(modprobe --resolve-alias)) and its parameters are checked
    against its parameter types (C(modinfo)) before anything changes. After loading, C(/sys/module) is read again to
    verify the module and the parameters the kernel shows.
  - A loaded module whose parameters differ is not reloaded unless O(reload=true); it is returned in
    RV(reload_required) with a warning.
  - When a module cannot be loaded or unloaded here (it does not exist for this kernel, the kernel's modules are
    not installed, no C(CAP_SYS_MODULE), module loading disabled, in use), the task fails before changing anything,
    or with O(unavailable=report) returns it in RV(skipped_modules) with the reason. In a container, modules are not loaded
    or unloaded at all by default (O(in_container)), because the kernel is the host's.
  - Files are written atomically, root-owned with mode V(0644), with an C(Ansible managed) header and the
    fingerprint C(# containerhost.platform:kernel_module); a file that would list nothing is removed.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  modules:
    description:
      - The modules to manage. A module may appear once (dashes and underscores in names are the same).
      - Modules that an earlier run listed in the files but that are no longer given are dropped from the files,
        and left loaded.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The module's name, or an alias of it (such as V(crc32c)). Letters, digits, V(_) and V(-).
        type: str
        required: true
      params:
        description:
          - Parameters passed when the module is loaded and written to the C(modprobe.d) file. Values are strings,
            integers, booleans (written as V(1) and V(0)) or lists (array parameters, written comma-separated).
          - Parameters of a built-in module cannot be set here; they belong on the kernel command line
            (C(<module>.<parameter>=<value>)).
          - Ignored with O(modules[].state=absent).
        type: dict
        default: {}
      state:
        description:
          - V(present) loads the module; V(absent) unloads it (C(modprobe --remove)) and drops it from the files.
            V(absent) does not stop the kernel or udev from loading it again on demand.
        type: str
        choices: [present, absent]
        default: present
      boot:
        description:
          - Whether the module is listed in the C(modules-load.d) file, so that it is loaded at every boot. Its
            parameters are written to C(modprobe.d) either way.
        type: bool
        default: true
  file_prefix:
    description:
      - Base name of the two files, V(/etc/modules-load.d/<file_prefix>.conf) and V(/etc/modprobe.d/<file_prefix>.conf).
    type: str
    default: containerhost
  reload:
    description:
      - Whether a loaded module whose parameters differ is unloaded and loaded again with the declared ones. This
        fails when something uses the module.
    type: bool
    default: false
  unavailable:
    description:
      - What happens when a module cannot be loaded or unloaded here.
      - V(fail) fails the task before anything changes, naming the modules and the reasons.
      - V(report) returns them in RV(skipped_modules) with the reasons (and warns), changes the others and writes the files.
    type: str
    choices: [fail, report]
    default: fail
  in_container:
    description:
      - What happens in a container, which shares the host's kernel.
      - V(skip) loads and unloads nothing and returns the modules that would need it in RV(skipped_modules) (whatever
        O(unavailable) says); the files are written.
      - V(apply) treats the container like a host (it then needs C(CAP_SYS_MODULE) and the host's modules).
    type: str
    choices: [skip, apply]
    default: skip
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details: Reads /sys/module, looks modules up (C(modprobe --resolve-alias), C(modinfo)) and predicts C(changed),
      the loads, unloads, skipped modules and files exactly; loads nothing and writes nothing.
  diff_mode:
    support: full
    details: Shows both files before and after, and the modules loaded and unloaded.
  idempotent:
    support: full
    details: A second run finds the modules loaded with their parameters and the files unchanged, and runs no command.
  platform:
    support: full
    platforms: posix
    details: Linux with kmod's C(modprobe); boot loading through systemd-modules-load.
notes:
  - Parameters that a module registers without permissions do not appear in C(/sys/module/<name>/parameters); they
    are passed and written, but cannot be verified, and are returned in RV(modules[].params_unverified).
  - A module that O(unavailable=report) skipped is still listed in the files. On a host whose booted kernel lacks
    it, systemd-modules-load reports a failure at boot; declare it only for the hosts that have it.
  - systemd loads C(modules-load.d) before it applies C(sysctl.d), so keys that a module provides (such as
    C(net.bridge.*) from C(br_netfilter)) can be set at boot by M(containerhost.platform.sysctl).
seealso:
  - module: containerhost.platform.sysctl
  - name: modules-load.d(5)
    description: Modules loaded at boot.
    link: https://www.freedesktop.org/software/systemd/man/latest/modules-load.d.html
  - name: modprobe.d(5)
    description: Configuration of modprobe, including module options.
    link: https://man7.org/linux/man-pages/man5/modprobe.d.5.html
"""

EXAMPLES = r"""
- name: Modules a container host needs
  containerhost.platform.kernel_module:
    modules:
      - name: overlay
      - name: br_netfilter
      - name: nf_conntrack
        params:
          hashsize: 262144
      - name: dummy
        params:
          numdummies: 2
        boot: false

- name: Load what can be loaded, report the rest (for hosts that may be containers)
  containerhost.platform.kernel_module:
    unavailable: report
    modules:
      - name: ip_vs
      - name: wireguard

- name: Unload a module and stop loading it at boot
  containerhost.platform.kernel_module:
    modules:
      - name: dummy
        state: absent
"""

RETURN = r"""
modules:
  description: One entry per declared module, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The module's name as given.
      type: str
      sample: br_netfilter
    state:
      description: The declared state.
      type: str
      sample: present
    action:
      description: What was (or in check mode would be) done - V(load), V(unload), V(reload) - or null.
      type: str
      sample: load
    changed:
      description: Whether the module was (or would be) loaded, unloaded or reloaded.
      type: bool
      sample: true
    loaded:
      description: Whether the module is in the kernel after the task (loaded or built in; predicted in check mode).
      type: bool
      sample: true
    builtin:
      description: Whether the module is built into the kernel.
      type: bool
      sample: false
    resolved:
      description: The kernel modules the name stands for, when it was looked up (an alias may stand for another).
      type: list
      elements: str
      sample: [br_netfilter]
    params:
      description: The declared parameters, as written.
      type: dict
      sample: {"hashsize": "262144"}
    params_current:
      description: The parameters' values in C(/sys/module) after the task (null where the kernel does not show one).
      type: dict
      sample: {"hashsize": "262144"}
    params_unverified:
      description: Declared parameters the kernel does not show in C(/sys/module), so they could not be compared.
      type: list
      elements: str
      sample: [numdummies]
    reload_required:
      description: Whether the module is loaded with other parameters than declared and was not reloaded.
      type: bool
      sample: false
    skipped:
      description: Why the module was not loaded or unloaded although it needed to be, or null.
      type: str
      sample: null
loaded:
  description: Declared modules that are in the kernel after the task (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: [overlay, br_netfilter]
changed_modules:
  description: Modules that were (or would be) loaded, unloaded or reloaded.
  returned: always
  type: list
  elements: str
  sample: [br_netfilter]
skipped_modules:
  description: Modules that needed loading or unloading but were not, each with the reason.
  returned: always
  type: dict
  sample: {"ip_vs": "a container (podman) shares the host's kernel: load the module on the host ..."}
reload_required:
  description: Loaded modules whose parameters differ from the declared ones and that were not reloaded.
  returned: always
  type: list
  elements: str
  sample: []
files_changed:
  description: Host paths of the files that were (or would be) written or removed.
  returned: always
  type: list
  elements: str
  sample: [/etc/modules-load.d/containerhost.conf, /etc/modprobe.d/containerhost.conf]
container:
  description: The container manager the host runs under, or null on a host.
  returned: always
  type: str
  sample: null
"""

import os
import re
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.containerhost.platform.plugins.module_utils._kernel_modules import (
    KernelModuleError,
    Modprobe,
    ModprobeError,
    SysModules,
    canonical_name,
    check_param_types,
    foreign_rules,
    normalize_params,
    param_equal,
    parse_modprobe_conf,
    parse_options,
    render_modprobe_options,
    render_modules_load,
    validate_name,
)
from ansible_collections.containerhost.platform.plugins.module_utils._sysctl import (
    detect_container,
    file_mode_right,
    host_path,
    read_text,
)
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import (
    atomic_write,
    has_fingerprint,
    managed_header,
    remove_file,
)

MODULE_NAME = "kernel_module"
MODULES_LOAD_DIR = "/etc/modules-load.d"
MODPROBE_DIR = "/etc/modprobe.d"
FILE_MODE = 0o644
PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
LOADED_STATES = ("live", "coming", "builtin")
ENTRY_OPTIONS: dict[str, dict[str, t.Any]] = {
    "name": {"type": "str", "required": True},
    "params": {"type": "dict", "default": {}},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "boot": {"type": "bool", "default": True},
}
# Tests point these at a directory holding a fake /sys, /proc, /lib/modules and /etc, and at its kernel release.
_ROOT = "/"
_RELEASE: str | None = None


class ModuleEntry:
    """One declared module: what is wanted, what the kernel has, and what to do."""

    def __init__(self, index: int, params: dict[str, t.Any]) -> None:
        self.where = f"modules[{index}] ({params['name']})"
        self.name: str = params["name"]
        self.canonical = canonical_name(self.name)
        self.state: str = params["state"]
        self.boot: bool = params["boot"]
        self.params: dict[str, str] = normalize_params(params["params"], self.where) if self.state == "present" else {}
        self.kernel_state: str | None = None
        # The kernel modules the name stands for (itself, or what an alias resolves to).
        self.resolved: list[str] = []
        self.lookup_error: str | None = None
        self.action: str | None = None
        self.done = False
        self.skipped: str | None = None
        self.reload_required = False
        self.params_current: dict[str, str | None] = {}

    @property
    def loaded(self) -> bool:
        """Whether the module is in the kernel (as read, or after the action)."""
        return self.kernel_state in LOADED_STATES

    @property
    def builtin(self) -> bool:
        """Whether the module is built into the kernel."""
        return self.kernel_state == "builtin"

    @property
    def changed(self) -> bool:
        """Whether the module was (or in check mode would be) loaded, unloaded or reloaded."""
        return self.done

    def result(self) -> dict[str, t.Any]:
        """The per-module return value."""
        return {"name": self.name, "state": self.state, "action": self.action if self.done else None,
                "changed": self.changed, "loaded": self.loaded, "builtin": self.builtin, "resolved": self.resolved,
                "params": self.params, "params_current": self.params_current,
                "params_unverified": sorted(name for name, value in self.params_current.items() if value is None),
                "reload_required": self.reload_required, "skipped": self.skipped}


class FilePlan:
    """One of the two files: current and wanted content (None: absent)."""

    def __init__(self, path: str, wanted: str | None) -> None:
        self.path = path
        self.full_path = host_path(_ROOT, path)
        self.current = read_text(self.full_path)
        self.wanted = wanted
        # Decided once, before anything is written.
        if wanted is None:
            self.changed = self.current is not None
        else:
            self.changed = self.current != wanted or not file_mode_right(self.full_path, FILE_MODE)

    def diff(self) -> dict[str, str]:
        """Before and after."""
        return {"before_header": self.path, "after_header": self.path,
                "before": self.current or "", "after": self.wanted or ""}


class KernelModuleManager:
    """Validates every entry, reads /sys/module once, looks up what must be loaded, then writes and loads."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.prefix: str = params["file_prefix"]
        self.reload: bool = params["reload"]
        self.unavailable: str = params["unavailable"]
        self.in_container: str = params["in_container"]
        self.kernel = SysModules(_ROOT, _RELEASE)
        self.modprobe: Modprobe | None = None
        self.container: str | None = None
        self.entries: list[ModuleEntry] = []
        self.files: list[FilePlan] = []

    # ---- 1. validate every entry before anything is read or run
    def validate(self) -> None:
        """Check the prefix, each entry's options, names and parameters; refuse a module declared twice."""
        if not PREFIX_RE.match(self.prefix):
            self.module.fail_json(msg=f"file_prefix: {self.prefix!r} is not accepted; give a file name without "
                                      "directory or .conf suffix, such as containerhost")
        validator = ArgumentSpecValidator(ENTRY_OPTIONS)
        seen: dict[str, str] = {}
        for index, raw in enumerate(self.module.params["modules"]):
            name = raw.get("name") if isinstance(raw, dict) else None
            checked = validator.validate(raw)
            if checked.error_messages:
                messages = [f"unsupported option {error}" if isinstance(error, UnsupportedError) else str(error)
                            for error in checked.errors]
                self.module.fail_json(msg=f"modules[{index}] ({name}): {'; '.join(messages)}")
            params = checked.validated_parameters
            try:
                validate_name(params["name"], f"modules[{index}] ({name}): name")
                entry = ModuleEntry(index, params)
            except KernelModuleError as exc:
                self.module.fail_json(msg=str(exc))
            if entry.canonical in seen:
                self.module.fail_json(msg=f"{entry.where}: name: the same module as {seen[entry.canonical]} (- and _ "
                                          "are the same); declare each module once")
            seen[entry.canonical] = entry.where
            self.entries.append(entry)

    # ---- 2. read /sys/module, and look up the modules that are not in the kernel
    def read(self) -> None:
        """Each module's state; modprobe --resolve-alias for names /sys/module does not know (aliases)."""
        self.container = detect_container(_ROOT)
        self.modprobe = Modprobe(self.module)
        for entry in self.entries:
            entry.kernel_state = self.kernel.state(entry.canonical)
            entry.resolved = [entry.canonical] if entry.kernel_state else []
            if entry.kernel_state or entry.state != "present":
                continue
            if not self.modprobe.modprobe or not self.kernel.has_modules_dir():
                continue
            try:
                entry.resolved = self.modprobe.resolve(entry.name)
            except ModprobeError as exc:
                entry.lookup_error = str(exc)
                continue
            # An alias: loaded when a module it stands for is.
            states = [self.kernel.state(name) for name in entry.resolved]
            entry.kernel_state = next((state for state in states if state in LOADED_STATES), None)

    # ---- 3. decide the action per module, and why it may be impossible
    def decide(self) -> None:
        """Plan loads, unloads and reloads; fail (or skip) what cannot be done; check parameters; plan the files."""
        impossible = []
        for entry in self.entries:
            self._decide_action(entry)
            if entry.action is None:
                continue
            reason, policy = self._why_impossible(entry)
            if reason is None:
                continue
            if policy or self.unavailable == "report":
                entry.skipped = reason
            else:
                impossible.append(f"{entry.where}: {reason}")
        if impossible:
            self.module.fail_json(msg=f"cannot load or unload here (nothing was changed; unavailable=report would "
                                      f"report these instead of failing): {'; '.join(impossible)}")
        self._check_params()
        self._plan_files()

    def _decide_action(self, entry: ModuleEntry) -> None:
        """What the module needs: load, unload, reload, or nothing."""
        if entry.state == "absent":
            # A built-in module counts as loaded; why it cannot be unloaded is reported with the other reasons.
            if entry.loaded:
                entry.action = "unload"
            return
        if not entry.loaded:
            entry.action = "load"
            return
        entry.params_current = self.kernel.param_values(self._sys_name(entry), list(entry.params))
        differing = {name: value for name, value in entry.params_current.items()
                     if value is not None and not param_equal(entry.params[name], value)}
        if not differing:
            return
        if entry.builtin:
            entry.skipped = ("built into the kernel: its parameters are set on the kernel command line ("
                             + " ".join(f"{entry.canonical}.{name}={entry.params[name]}" for name in differing) + ")")
        elif self.reload:
            entry.action = "reload"
        else:
            entry.reload_required = True

    def _sys_name(self, entry: ModuleEntry) -> str:
        """The name the module has in /sys/module (an alias's module when the name is an alias)."""
        for name in [entry.canonical, *entry.resolved]:
            if self.kernel.state(name):
                return name
        return entry.canonical

    def _why_impossible(self, entry: ModuleEntry) -> tuple[str | None, bool]:
        """Why the module's action cannot be done here, and whether that is the container policy (always skipped)."""
        if self.container and self.in_container == "skip":
            return (f"a container ({self.container}) shares the host's kernel: {entry.action} the module on the host "
                    "(or use in_container=apply)"), True
        if entry.action == "unload" and entry.builtin:
            return "built into the kernel: it cannot be unloaded", False
        if self.kernel.loading_disabled():
            return "module loading is disabled (kernel.modules_disabled=1) until the next boot", False
        if self.kernel.can_load() is False:
            where = f" (a container: {self.container})" if self.container else " (run as root: become: true)"
            return f"this process lacks CAP_SYS_MODULE{where}", False
        if self.modprobe is None or not self.modprobe.modprobe:
            return "modprobe is not installed (package kmod)", False
        if entry.action in ("load", "reload"):
            if not self.kernel.has_modules_dir():
                if self.container:
                    return (f"no {self.kernel.modules_dir}: a container ({self.container}) cannot load modules "
                            "(they come with the host's kernel)"), False
                return f"no {self.kernel.modules_dir}: the running kernel's modules are not installed", False
            if entry.lookup_error:
                return f"not available for kernel {self.kernel.release}: {entry.lookup_error}", False
        if entry.action in ("unload", "reload"):
            users = self.kernel.users(self._sys_name(entry))
            if users:
                return f"in use ({'; '.join(users)}): stop what uses it first", False
        return None, False

    def _check_params(self) -> None:
        """Parameters of modules to load or reload, or whose options change, against the module's parameter types."""
        previous = self._previous_options()
        errors, unlisted = [], []
        for entry in self.entries:
            if not entry.params or entry.skipped or self.modprobe is None:
                continue
            if entry.action not in ("load", "reload") and previous.get(entry.canonical) == entry.params:
                continue
            types = self.modprobe.parmtypes(entry.name)
            if types is not None:
                entry_errors, entry_unlisted = check_param_types(entry.params, types, entry.where)
                errors.extend(entry_errors)
                unlisted.extend(entry_unlisted)
        if errors:
            self.module.fail_json(msg="; ".join(errors))
        if unlisted:
            self.module.warn(f"{', '.join(unlisted)}: not listed by modinfo (declared without a type, as nf_conntrack's "
                             "hashsize is); the kernel checks it when the module loads")

    def _previous_options(self) -> dict[str, dict[str, str]]:
        """The parameters our modprobe.d file gives each module now."""
        text = read_text(host_path(_ROOT, self.modprobe_path))
        return {module: parse_options(rest) for command, module, rest in parse_modprobe_conf(text)
                if command == "options"}

    @property
    def modules_load_path(self) -> str:
        """Host path of the modules-load.d file."""
        return os.path.join(MODULES_LOAD_DIR, f"{self.prefix}.conf")

    @property
    def modprobe_path(self) -> str:
        """Host path of the modprobe.d file."""
        return os.path.join(MODPROBE_DIR, f"{self.prefix}.conf")

    def _plan_files(self) -> None:
        """Both files from the present entries, and warnings about other modprobe.d files that undo them."""
        header = managed_header(MODULE_NAME)
        present = [entry for entry in self.entries if entry.state == "present"]
        self.files = [
            FilePlan(self.modprobe_path,
                     render_modprobe_options(header, [(entry.canonical, entry.params) for entry in present])),
            FilePlan(self.modules_load_path,
                     render_modules_load(header, [entry.canonical for entry in present if entry.boot])),
        ]
        for plan in self.files:
            if plan.changed and plan.current is not None and not has_fingerprint(plan.current, MODULE_NAME):
                self.module.warn(f"{plan.path} was not written by this module (no containerhost.platform:"
                                 f"{MODULE_NAME} line); it is {'removed' if plan.wanted is None else 'replaced'}")
        rules = foreign_rules(_ROOT, self.modprobe_path, {entry.canonical: entry.params for entry in present})
        for name, notes in rules.items():
            self.module.warn(f"{name}: other modprobe.d files may undo the declared state: {'; '.join(notes)}")

    # ---- 4. act: files first (so dependencies loaded along find their options), then the modules in order
    def apply(self) -> None:
        """Write the files, then unload, reload and load; verify each module in /sys/module."""
        for plan in self.files:
            if plan.changed:
                if plan.wanted is None:
                    remove_file(plan.full_path)
                else:
                    atomic_write(self.module, plan.full_path, plan.wanted, mode=FILE_MODE)
        for entry in self.entries:
            if entry.action is None or entry.skipped:
                continue
            try:
                if entry.action in ("unload", "reload"):
                    self.modprobe.unload(entry.name)
                if entry.action in ("load", "reload"):
                    self.modprobe.load(entry.name, entry.params)
            except ModprobeError as exc:
                if self.unavailable == "report":
                    entry.skipped = f"modprobe failed: {exc}"
                    continue
                self.fail(f"{entry.where}: modprobe failed: {exc}", **exc.result())
            entry.done = True
            self._verify(entry)

    def _verify(self, entry: ModuleEntry) -> None:
        """Read /sys/module again: the module is (or is no longer) there, with the declared parameters."""
        entry.kernel_state = self.kernel.state(entry.canonical)
        if entry.state == "absent":
            if entry.loaded:
                self.fail(f"{entry.where}: still loaded after modprobe --remove")
            return
        if not entry.loaded:
            entry.kernel_state = next((state for state in map(self.kernel.state, entry.resolved)
                                       if state in LOADED_STATES), None)
        if not entry.loaded:
            self.fail(f"{entry.where}: modprobe succeeded but the module is not in /sys/module; an 'install' line in "
                      "modprobe.d may replace loading it")
        entry.reload_required = False
        entry.params_current = self.kernel.param_values(self._sys_name(entry), list(entry.params))
        wrong = [f"{name}: wanted {entry.params[name]!r}, the kernel shows {value!r}"
                 for name, value in entry.params_current.items()
                 if value is not None and not param_equal(entry.params[name], value)]
        if wrong:
            self.fail(f"{entry.where}: loaded, but not with the declared parameters ({'; '.join(wrong)}); a module "
                      "that was already loaded as a dependency keeps its parameters until reload=true")

    def predict(self) -> None:
        """Check mode: what a real run would do."""
        for entry in self.entries:
            if entry.action is None or entry.skipped:
                continue
            entry.done = True
            if entry.action in ("load", "reload"):
                entry.kernel_state = entry.kernel_state or "live"
                entry.params_current = dict(entry.params)
            else:
                entry.kernel_state = None

    def fail(self, msg: str, **extra: t.Any) -> t.NoReturn:
        """Fail, returning what was done so far."""
        self.module.fail_json(msg=msg, **self.result(), **extra)

    def result(self) -> dict[str, t.Any]:
        """The task result."""
        files_changed = [plan.path for plan in self.files if plan.changed]
        out: dict[str, t.Any] = {
            "changed": bool(files_changed) or any(entry.changed for entry in self.entries),
            "modules": [entry.result() for entry in self.entries],
            "loaded": [entry.name for entry in self.entries if entry.loaded],
            "changed_modules": [entry.name for entry in self.entries if entry.changed],
            "skipped_modules": {entry.name: entry.skipped for entry in self.entries if entry.skipped},
            "reload_required": [entry.name for entry in self.entries if entry.reload_required],
            "files_changed": files_changed,
            "container": self.container,
        }
        if self.module._diff:
            out["diff"] = self.diff()
        return out

    def diff(self) -> list[dict[str, str]]:
        """Both files before and after, and the module actions."""
        diffs = [plan.diff() for plan in self.files if plan.changed]
        acted = [entry for entry in self.entries if entry.changed]
        if acted:
            before = {"load": "not loaded", "unload": "loaded", "reload": "loaded with other parameters"}
            after = {"load": "loaded", "unload": "not loaded", "reload": "reloaded"}
            diffs.append({"before_header": "kernel modules", "after_header": "kernel modules",
                          "before": "".join(f"{e.canonical}: {before[e.action]}\n" for e in acted),
                          "after": "".join(f"{e.canonical}: {after[e.action]}{self._params_text(e)}\n"
                                           for e in acted)})
        return diffs

    @staticmethod
    def _params_text(entry: ModuleEntry) -> str:
        """`` (a=1 b=2)`` for a loaded module with parameters."""
        if entry.action == "unload" or not entry.params:
            return ""
        return f" ({' '.join(f'{key}={value}' for key, value in entry.params.items())})"

    def run(self) -> None:
        """Validate, read, decide, act (unless in check mode) and exit."""
        self.validate()
        try:
            self.read()
            self.decide()
        except OSError as exc:
            self.module.fail_json(msg=f"could not read {exc.filename or '/sys/module'}: {exc.strerror or exc}")
        if self.module.check_mode:
            self.predict()
        else:
            try:
                self.apply()
            except OSError as exc:
                self.fail(f"could not change {exc.filename or 'a file'}: {exc.strerror or exc}")
        skipped = [entry for entry in self.entries if entry.skipped]
        if skipped:
            self.module.warn("not loaded or unloaded: " + "; ".join(f"{e.name} ({e.skipped})" for e in skipped))
        required = [entry.name for entry in self.entries if entry.reload_required]
        if required:
            self.module.warn(f"loaded with other parameters than declared: {', '.join(required)}; they apply after a "
                             "reboot, or now with reload=true")
        self.module.exit_json(**self.result())


def main() -> None:
    """Manage the kernel modules."""
    module = AnsibleModule(
        argument_spec={
            # Entries are checked against ENTRY_OPTIONS in validate(), so that a bad key names the entry it is in.
            "modules": {"type": "list", "elements": "dict", "required": True},
            "file_prefix": {"type": "str", "default": "containerhost"},
            "reload": {"type": "bool", "default": False},
            "unavailable": {"type": "str", "choices": ["fail", "report"], "default": "fail"},
            "in_container": {"type": "str", "choices": ["skip", "apply"], "default": "skip"},
        },
        supports_check_mode=True,
    )
    KernelModuleManager(module).run()


if __name__ == "__main__":
    main()
