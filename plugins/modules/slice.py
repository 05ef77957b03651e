# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: slice
short_description: Declare systemd slices with cgroup limits, many in one task
version_added: 0.1.0
description:
  - Declares systemd slice units (C(.slice)) with CPU, memory, task, IO and cpuset limits, as many as needed in
    one task. Nested slices follow systemd's dash naming, so V(tenant-a.slice) is below V(tenant.slice).
  - Writes one unit file per slice into O(unit_dir), each marked with the fingerprint
    C(# containerhost.platform:slice), atomically and only when its content changes.
  - Reads the state of all slices with one C(systemctl list-units) plus one C(systemctl show) for the slices systemd
    has loaded, reloads systemd once when a unit file changed, and makes changed limits live on running slices
    without restarting anything in them. When nothing changed, it runs no other command.
  - Limits are translated for the host's systemd and cgroup hierarchy (v1, hybrid, v2); what was translated or cannot
    be enforced is reported per slice.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  slices:
    description:
      - The slices to declare, each with its limits. A name may appear once.
      - Every entry is validated before anything on the host changes.
      - Options that are not given are not written, so systemd's defaults apply to them.
    type: list
    elements: dict
    required: true
  unit_dir:
    description:
      - Directory the unit files are written to and removed from.
    type: path
    default: /etc/systemd/system
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._resource_limits.SLICES
attributes:
  check_mode:
    support: full
    details: Reads the same state and predicts C(changed) exactly; writes, reloads and applies nothing.
  diff_mode:
    support: full
    details: Shows each unit file before and after, and the live property values before and after.
  idempotent:
    support: full
    details: A second run with the same slices changes nothing and does not reload systemd.
  platform:
    support: full
    platforms: posix
    details: Linux with systemd as the service manager.
notes:
  - "Changed limits become live through C(systemctl daemon-reload): systemd 252 re-applies the cgroup attributes of
    running units when it reloads (verified against the kernel's C(memory.max), C(cpu.max), C(cpu.weight) and
    C(pids.max) of a slice with a service running in it). Only a value that still differs after the reload, for
    example one held by a runtime drop-in from C(systemctl set-property --runtime), is set again with
    C(systemctl set-property --runtime)."
  - A slice is active while a unit runs in it; an inactive slice needs nothing applied, its unit file takes effect
    when it starts.
  - Drop-ins of other tools (C(<unit_dir>/<name>.d/*.conf)) can override the declared values; the module then warns
    instead of fighting them.
seealso:
  - module: containerhost.platform.slice_info
  - module: containerhost.platform.unit_resources
  - name: systemd.resource-control(5)
    description: The resource control settings of systemd units.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html
"""

EXAMPLES = r"""
- name: Carve the host into tenant slices
  containerhost.platform.slice:
    slices:
      - name: tenant.slice
        cpu_weight: 200
        memory_max: 8G
      - name: tenant-a.slice
        description: Tenant A
        cpu_quota: 150%
        memory_high: 3G
        memory_max: 4G
        tasks_max: 2000
        io_weight: 300
        io_read_bandwidth_max:
          - device: /dev/vda
            limit: 50M
        allowed_cpus: 0-1
      - name: tenant-b.slice
        cpu_weight: idle
        memory_max: 25%

- name: Remove a tenant
  containerhost.platform.slice:
    slices:
      - name: tenant-b.slice
        state: absent
"""

RETURN = r"""
slices:
  description: One entry per declared slice, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The slice unit name, with V(.slice) appended if it was missing.
      type: str
      sample: tenant-a.slice
    state:
      description: The declared state.
      type: str
      sample: present
    changed:
      description: Whether this slice's unit file or live limits were (or in check mode would be) changed.
      type: bool
      sample: true
    unit_file:
      description: Path of the slice's unit file.
      type: str
      sample: /etc/systemd/system/tenant-a.slice
    properties:
      description: The systemd properties written for the slice, as in the unit file (device lists one per line).
      type: dict
      sample: {"CPUQuota": "150%", "MemoryMax": "4294967296", "AllowedCPUs": "0-1"}
    translated:
      description:
        - Options written under another property name for this systemd, or that systemd converts for the cgroup v1
          hierarchy, each with C(option), C(property) and C(reason).
      type: list
      elements: dict
      sample: [{"option": "cpu_weight", "property": "CPUWeight", "reason": "cgroup hybrid: systemd applies CPUWeight=200 as cpu.shares=2048"}]
    not_honoured:
      description: Options this host cannot enforce, each with C(option) and C(reason).
      type: list
      elements: dict
      sample: [{"option": "memory_high", "reason": "cgroup hybrid: MemoryHigh needs the unified hierarchy (cgroup v2); ..."}]
    active:
      description: Whether the slice was active (had units running in it) when the task started.
      type: bool
      sample: true
    live_applied:
      description:
        - Whether changed limits were made live on the active slice (by the reload, or by set-property for
          RV(slices[].live_changes)). False for inactive slices, which need nothing applied, and in check mode.
      type: bool
      sample: true
    live_changes:
      description:
        - Properties whose live value differed from the declared one and were (or would be) set with
          C(systemctl set-property --runtime), as property to C(before) and C(after).
      type: dict
      sample: {"MemoryMax": {"before": "infinity", "after": "4294967296"}}
    stopped:
      description: For O(slices[].state=absent), whether the (empty) slice was stopped before its unit file was removed.
      type: bool
      sample: false
    removed:
      description: For O(slices[].state=absent), the files that were (or would be) removed.
      type: list
      elements: str
      sample: [/etc/systemd/system/tenant-b.slice]
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) ran (or would run in check mode).
  returned: always
  type: bool
  sample: true
"""

import copy
import os
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.containerhost.platform.plugins.module_utils._resource_control import (
    LIMIT_OPTIONS,
    Plan,
    ResourceError,
    cgroup_fs_path,
    host_limits,
    live_differences,
    normalise_limits,
    plan_properties,
    show_names,
)
from ansible_collections.containerhost.platform.plugins.module_utils._systemctl import Systemctl, SystemctlError
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import (
    UnitNameError,
    atomic_write,
    escape_value,
    managed_header,
    read_text_or_none,
    remove_empty_dir,
    remove_file,
    render_unit,
    slice_parents,
    validate_unit_name,
)
from ansible_collections.containerhost.platform.plugins.module_utils._unit_plan import (
    UnitEntry,
    UnitPlan,
    properties_diff,
)

MODULE_NAME = "slice"
ENTRY_KEYS = ("name", "state", "description")
# Read with the limits for the loaded slices (one systemctl show call for all of them).
STATE_PROPERTIES = ("LoadState", "ActiveState", "FragmentPath", "DropInPaths", "NeedDaemonReload", "ControlGroup")
ACTIVE_STATES = ("active", "activating", "reloading", "deactivating")
# Where `systemctl set-property` keeps its drop-ins (runtime and persistent); they belong to the slice, not to others.
CONTROL_DIRS = ("/run/systemd/system.control", "/etc/systemd/system.control")
# Tests point this at a fake /proc and /sys.
_ROOT = "/"


def _host_path(path: str) -> str:
    """Map an absolute host path below _ROOT."""
    return os.path.join(_ROOT, path.lstrip("/"))


class SliceEntry(UnitEntry):
    """One declared slice: what is wanted, what the host has, and what to do about it."""

    def __init__(self, index: int, params: dict[str, t.Any], unit_dir: str) -> None:
        name = validate_unit_name(params["name"], "slice")
        super().__init__(f"slices[{index}] ({params['name']})", name, params["state"], os.path.join(unit_dir, name))
        self.plan = Plan()
        self.loaded = False
        self.remove: list[str] = []
        self.stop = False
        self.live_applied = False

    @property
    def file_removed(self) -> bool:
        """Whether the unit file or control drop-ins go away."""
        return bool(self.remove)

    @property
    def active(self) -> bool:
        """Whether the slice was active when its state was read."""
        return self.shown.get("ActiveState") in ACTIVE_STATES

    @property
    def changed(self) -> bool:
        """Whether anything about this slice changes."""
        return bool(self.file_changed or self.needs_reload or self.live_diff or self.remove or self.stop)

    def result(self) -> dict[str, t.Any]:
        """The per-slice return value."""
        out = {"name": self.name, "state": self.state, "changed": self.changed, "unit_file": self.path,
               "active": self.active, **self.plan.as_dict(), "live_applied": self.live_applied,
               "live_changes": self.live_changes()}
        if self.state == "absent":
            out.update(stopped=self.stop, removed=list(self.remove))
        return out


class SliceManager(UnitPlan):
    """Validates every entry, reads the host once, then writes, reloads and applies once."""

    RESULT_KEY = "slices"

    def __init__(self, module: AnsibleModule) -> None:
        super().__init__(module)
        self.unit_dir = module.params["unit_dir"]
        self.systemctl = Systemctl(module)
        self.host = host_limits(module, root=_ROOT, systemctl=self.systemctl.binary)
        self.entries: list[SliceEntry] = []

    # ---- 1. validate everything before touching anything
    def validate(self) -> None:
        """Check names, duplicates, nesting and every limit; fail naming the first bad entry and field."""
        seen: dict[str, str] = {}
        for index, params in enumerate(self.module.params["slices"]):
            where = f"slices[{index}] ({params['name']})"
            try:
                entry = SliceEntry(index, params, self.unit_dir)
            except UnitNameError as exc:
                self.module.fail_json(msg=f"{where}: name: {exc}")
            if entry.name in seen:
                self.module.fail_json(msg=f"{where}: name: {entry.name} is already declared by {seen[entry.name]}; "
                                          "declare each slice once")
            seen[entry.name] = where
            if entry.state == "present":
                limits = {key: value for key, value in params.items() if key not in ENTRY_KEYS}
                try:
                    normalised = normalise_limits(limits, where, self.host)
                except ResourceError as exc:
                    self.module.fail_json(msg=str(exc))
                entry.plan = plan_properties(normalised, self.host)
                description = params["description"] or f"Slice {entry.name} (containerhost.platform.slice)"
                try:
                    description = escape_value(description)
                except ValueError as exc:
                    self.module.fail_json(msg=f"{where}: description: {exc}; accepted: one line of text")
                entry.content = render_unit(managed_header(MODULE_NAME),
                                            {"Unit": {"Description": description}, "Slice": entry.plan.properties})
            self.entries.append(entry)
        present = {entry.name for entry in self.entries if entry.state == "present"}
        for entry in self.entries:
            if entry.state == "absent":
                children = sorted(name for name in present if entry.name in slice_parents(name))
                if children:
                    self.module.fail_json(msg=f"{entry.where}: state: absent, but {', '.join(children)} below it is "
                                              "declared present; remove the children too or keep the parent")

    # ---- 2. read the host: unit files, the loaded slices, one systemctl show for those that need it
    def read(self) -> None:
        """Read every unit file, the state of every loaded slice, and the properties of the slices that need them.

        ``systemctl show`` loads each unit it is asked about and reads all its properties (about 6 ms per slice on
        systemd 252), so it only covers slices systemd has loaded: active ones (for the live values) and loaded
        inactive ones whose file is unchanged (for NeedDaemonReload). A slice systemd has not loaded has no live
        values; its unit file is read from disk when it is next needed.
        """
        states = self.systemctl.unit_states("slice")
        for entry in self.entries:
            entry.current = read_text_or_none(entry.path)
            entry.file_changed = entry.state == "present" and entry.current != entry.content
            state = states.get(entry.name)
            entry.loaded = state is not None
            if state:
                entry.shown = {"LoadState": state["load"], "ActiveState": state["active"]}
        wanted = [entry for entry in self.entries if entry.loaded and (
            entry.active or (entry.state == "present" and not entry.file_changed))]
        properties = list(STATE_PROPERTIES)
        for entry in wanted:
            properties.extend(name for name in show_names(entry.plan) if name not in properties)
        shown = self.systemctl.show([entry.name for entry in wanted], properties)
        for entry in wanted:
            entry.shown.update(shown.get(entry.name, {}))

    # ---- 3. decide, per slice
    def decide(self) -> None:
        """Work out file changes, reloads, live differences, removals and stops; fail on busy slices to remove."""
        for entry in self.entries:
            if entry.state == "present":
                self._decide_present(entry)
            else:
                self._decide_absent(entry)

    def _decide_present(self, entry: SliceEntry) -> None:
        """A present slice: whether systemd must reload, and drift of the live values of an active slice."""
        shown = entry.shown
        # The file is right but systemd has not loaded it (edited without a reload): a reload is still due.
        entry.needs_reload = entry.file_changed or shown.get("NeedDaemonReload") == "yes" or (
            entry.loaded and shown.get("LoadState") != "loaded" and entry.current is not None)
        if not entry.active or entry.needs_reload:
            # Inactive: nothing runs to apply to. Reloading: compared again after the reload.
            return
        differences = live_differences(entry.plan, shown)
        if differences and self._foreign_dropins(entry):
            self.module.warn(f"{entry.name}: {', '.join(sorted(differences))} differ from the declared values because "
                             f"drop-ins override them ({', '.join(self._foreign_dropins(entry))}); left as they are")
            return
        entry.live_diff = differences

    def _decide_absent(self, entry: SliceEntry) -> None:
        """An absent slice: files to remove, and whether it must (and may) be stopped first."""
        if entry.current is not None:
            entry.remove.append(entry.path)
        # set-property drop-ins outlive the unit (and its loading), so they are looked for on disk.
        for directory in CONTROL_DIRS:
            dropin_dir = _host_path(f"{directory}/{entry.name}.d")
            if os.path.isdir(dropin_dir):
                entry.remove.extend(os.path.join(dropin_dir, name) for name in sorted(os.listdir(dropin_dir)))
        if not entry.remove or not entry.active:
            return
        processes = self._processes(entry)
        if processes is None:
            self.module.warn(f"{entry.name}: cannot tell whether processes run in it; its files are removed but it is "
                             "not stopped")
        elif processes:
            listing = ", ".join(f"{p['pid']} ({p['comm']}, {p['cgroup']})" for p in processes[:20])
            more = f" and {len(processes) - 20} more" if len(processes) > 20 else ""
            self.module.fail_json(msg=f"{entry.where}: state: absent, but processes still run in {entry.name}: "
                                      f"{listing}{more}; stop or move the units in it first", processes=processes)
        else:
            entry.stop = True

    def _dropin_paths(self, entry: SliceEntry) -> list[str]:
        """Drop-in files systemd has loaded for the slice."""
        return entry.shown.get("DropInPaths", "").split()

    def _foreign_dropins(self, entry: SliceEntry) -> list[str]:
        """Drop-ins of other tools, which override the unit file whatever set-property writes."""
        return [path for path in self._dropin_paths(entry)
                if not any(path.startswith(f"{directory}/") for directory in CONTROL_DIRS)]

    def _processes(self, entry: SliceEntry) -> list[dict[str, t.Any]] | None:
        """Processes in the slice's cgroup subtree (pid, comm, cgroup); None when the cgroup cannot be found."""
        mountinfo = read_text_or_none(_host_path("/proc/self/mountinfo")) or ""
        directory = cgroup_fs_path(mountinfo, entry.shown.get("ControlGroup", ""))
        if directory is None:
            return None
        directory = _host_path(directory)
        if not os.path.isdir(directory):
            # An active slice whose cgroup is gone has nothing in it.
            return []
        found = []
        for current, dummy_dirs, files in os.walk(directory):
            if "cgroup.procs" not in files:
                continue
            for pid in (read_text_or_none(os.path.join(current, "cgroup.procs")) or "").split():
                comm = (read_text_or_none(_host_path(f"/proc/{pid}/comm")) or "?").strip()
                found.append({"pid": int(pid), "comm": comm,
                              "cgroup": os.path.relpath(current, os.path.dirname(directory))})
        return found

    # ---- 4. act
    def apply(self) -> None:
        """Stop empty slices to remove, write and remove files, reload once, then make live values match."""
        to_stop = [entry.name for entry in self.entries if entry.stop]
        self.systemctl.stop(to_stop)
        for entry in self.entries:
            if entry.file_changed:
                atomic_write(self.module, entry.path, entry.content)
            for path in entry.remove:
                remove_file(path)
                if path != entry.path:
                    remove_empty_dir(os.path.dirname(path))
        if any(entry.needs_reload or entry.remove for entry in self.entries):
            # Measured on systemd 252 (cgroup v2 VM): daemon-reload re-applies the cgroup attributes of active
            # units; memory.max, cpu.max, cpu.weight, cpuset.cpus and pids.max of a slice changed while a service
            # kept running in it (same PID). So one reload makes every changed unit file live, with no set-property
            # per slice. set-property --runtime is only for values the reload cannot change because something
            # else holds them (a runtime drop-in from an earlier set-property), found by reading them again below.
            self.systemctl.daemon_reload()
            self.daemon_reloaded = True
        reloaded = [entry for entry in self.entries if entry.state == "present" and entry.needs_reload and entry.active]
        if reloaded:
            shown = self.systemctl.show([entry.name for entry in reloaded],
                                        list(dict.fromkeys(name for e in reloaded for name in show_names(e.plan))))
            for entry in reloaded:
                remaining = live_differences(entry.plan, shown.get(entry.name, {}))
                if remaining and self._foreign_dropins(entry):
                    self.module.warn(f"{entry.name}: drop-ins override {', '.join(sorted(remaining))} "
                                     f"({', '.join(self._foreign_dropins(entry))}); left as they are")
                    remaining = {}
                entry.live_diff = remaining
                entry.live_applied = True
        for entry in self.entries:
            if entry.live_diff:
                self.systemctl.set_property(entry.name, {name: want for name, (want, dummy) in entry.live_diff.items()},
                                            runtime=True)
                entry.live_applied = True

    def predict(self) -> None:
        """Check mode: a reload is predicted wherever a real run would reload."""
        self.daemon_reloaded = any(entry.needs_reload or entry.remove for entry in self.entries)

    def diff(self) -> list[dict[str, str]]:
        """Unit files before/after and live property values before/after, for changed slices only."""
        diffs = []
        for entry in self.entries:
            diffs.extend(entry.file_diff())
            if entry.live_diff:
                diffs.append(properties_diff(f"{entry.name} (live properties)",
                                             {name: have for name, (dummy, have) in entry.live_diff.items()},
                                             {name: want for name, (want, dummy) in entry.live_diff.items()}))
        return diffs


def validate_entries(module: AnsibleModule, entries: list[dict[str, t.Any]],
                     entry_options: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Check each entry against the entry argument spec; fail naming the entry (index and name) on the first error."""
    validator = ArgumentSpecValidator(entry_options)
    checked = []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        result = validator.validate(entry)
        if result.error_messages:
            messages = [f"unsupported option {error}" if isinstance(error, UnsupportedError) else str(error)
                        for error in result.errors]
            module.fail_json(msg=f"slices[{index}] ({name}): {'; '.join(messages)}")
        checked.append(result.validated_parameters)
    return checked


def entry_options() -> dict[str, t.Any]:
    """The argument spec of one O(slices) entry (documented by the _resource_limits.SLICES fragment)."""
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "description": {"type": "str"},
        **copy.deepcopy(LIMIT_OPTIONS),
    }


def main() -> None:
    """Declare the slices."""
    module = AnsibleModule(
        argument_spec={
            # Entries are checked against entry_options below, so that a bad key names the entry it is in.
            "slices": {"type": "list", "elements": "dict", "required": True},
            "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
        },
        supports_check_mode=True,
    )
    module.params["slices"] = validate_entries(module, module.params["slices"], entry_options())
    manager = SliceManager(module)
    try:
        manager.run()
    except SystemctlError as exc:
        manager.fail(str(exc), **exc.result())
    except OSError as exc:
        manager.fail(f"could not change {exc.filename or 'a unit file'}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
