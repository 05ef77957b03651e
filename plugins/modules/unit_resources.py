# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: unit_resources
short_description: Put existing systemd units into slices and give them cgroup limits
version_added: 0.1.0
description:
  - Places existing units (services, sockets, mounts, swaps, scopes) into slices and gives them CPU, memory, task, IO
    and cpuset limits, as many units as needed in one task.
  - Persistent entries write one drop-in per unit, C(<unit_dir>/<unit>.d/50-containerhost-resources.conf), with
    C(Slice=) and the limits in the section of the unit's type (C([Service]), C([Socket]), C([Mount]), C([Swap]),
    C([Scope])), marked with the fingerprint C(# containerhost.platform:unit_resources). systemd is reloaded once,
    which also makes the limits live on running units without restarting them.
  - Entries with O(units[].runtime=true) change only the running unit with C(systemctl set-property --runtime); no
    file is written and the change ends at reboot.
  - A running unit cannot move to another slice; systemd moves it when it next starts. The module reports
    RV(units[].restart_required) for such a unit and restarts it only with O(restart=true).
  - Reads the state of all units with one C(systemctl show) and validates every entry before anything changes.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  units:
    description:
      - The units to place or limit. A unit may appear once.
      - A present persistent entry needs O(units[].slice), a limit option, or both.
      - Options that are not given are not written, so the unit's own settings or systemd's defaults apply to them.
    type: list
    elements: dict
    required: true
  restart:
    description:
      - Restart units that run in another slice than the declared one, so that they move now (one
        C(systemctl restart) for all of them), after the reload.
      - Scopes cannot be restarted; they stay where they are until their processes end.
    type: bool
    default: false
  unit_dir:
    description:
      - Directory below which the drop-in directories (C(<unit>.d)) are written and removed.
    type: path
    default: /etc/systemd/system
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._resource_limits.UNITS
attributes:
  check_mode:
    support: full
    details: Reads the same state and predicts C(changed) and RV(units[].restart_required); writes, reloads, sets
      and restarts nothing.
  diff_mode:
    support: full
    details: Shows each drop-in before and after, and the unit properties and slice before and after.
  idempotent:
    support: full
    details: A second run with the same units changes nothing and does not reload systemd. A unit still waiting for
      the restart that moves it keeps reporting RV(units[].restart_required).
  platform:
    support: full
    platforms: posix
    details: Linux with systemd as the service manager.
notes:
  - "systemd 252 re-applies the cgroup settings of running units on C(daemon-reload): a changed drop-in reaches the
    kernel's files (C(memory.max), C(pids.max), C(cpu.max)) of a running service without a restart and without a
    new main PID (checked on cgroup v2)."
  - "Drop-ins apply in file name order. Ours, C(50-containerhost-resources.conf), sorts after the
    C(50-<Property>.conf) files of C(systemctl set-property), so a runtime change of a property that a persistent
    entry also sets lasts only until the next C(daemon-reload); the module warns when it makes such a change.
    Drop-ins sorted after ours (such as C(override.conf) from C(systemctl edit)) win over ours; the module warns
    and leaves them alone."
  - "While a unit waits for the restart that moves it to another slice, the reload applies new values only for
    controllers already enabled where it runs (usually C(memory) and C(pids)); systemd enables C(cpu), C(io) and
    C(cpuset) only along the new slice. Those limits are listed in RV(units[].live_pending) until the restart."
  - A drop-in for a template (C(foo@.service)) applies to all its instances; the module does not restart them.
  - A drop-in for a unit systemd does not know yet is written with a warning; it applies once the unit exists.
seealso:
  - module: containerhost.platform.slice
  - module: containerhost.platform.scope
  - name: systemd.resource-control(5)
    description: The resource control settings of systemd units.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html
  - name: systemctl set-property
    description: Changing unit properties at runtime.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemctl.html#set-property%20UNIT%20PROPERTY=VALUE%E2%80%A6
"""

EXAMPLES = r"""
- name: Run the web tier in the tenant-a slice with its own limits
  containerhost.platform.unit_resources:
    units:
      - name: nginx.service
        slice: tenant-a.slice
        memory_max: 1G
        cpu_weight: 200
        tasks_max: 512
      - name: php-fpm
        slice: tenant-a.slice
        memory_high: 768M
        memory_max: 1G
  register: placed

- name: Move nginx now instead of at its next start (restarts it if it runs elsewhere)
  containerhost.platform.unit_resources:
    units:
      - name: nginx.service
        slice: tenant-a.slice
        memory_max: 1G
        cpu_weight: 200
        tasks_max: 512
    restart: true
  when: "'nginx.service' in placed.restart_required"

- name: Give a running batch job less CPU until it ends (no file, no restart)
  containerhost.platform.unit_resources:
    units:
      - name: reindex.service
        runtime: true
        cpu_quota: 50%
        io_weight: 10

- name: Take the placement away again
  containerhost.platform.unit_resources:
    units:
      - name: nginx.service
        state: absent
"""

RETURN = r"""
units:
  description: One entry per declared unit, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The unit name, with V(.service) appended if it had no suffix.
      type: str
      sample: nginx.service
    state:
      description: The declared state.
      type: str
      sample: present
    runtime:
      description: Whether the entry changed only the running unit.
      type: bool
      sample: false
    changed:
      description: Whether this unit's drop-in, its loaded configuration or the running unit was (or in check mode would
        be) changed, or the unit was restarted.
      type: bool
      sample: true
    dropin:
      description: Path of the unit's drop-in; null for runtime entries.
      type: str
      sample: /etc/systemd/system/nginx.service.d/50-containerhost-resources.conf
    slice:
      description: The declared slice, or null when the entry sets none.
      type: str
      sample: tenant-a.slice
    slice_before:
      description: The C(Slice=) systemd had configured for the unit when the task started (null for a template).
      type: str
      sample: system.slice
    running_slice:
      description:
        - The slice the unit's processes are in, from its C(ControlGroup) (after any restart by this task); null when
          the unit has no processes.
      type: str
      sample: system.slice
    active:
      description: Whether the unit was active when the task started.
      type: bool
      sample: true
    restart_required:
      description:
        - Whether the unit runs in another slice than the one systemd has configured for it (after this task), so that
          only a restart moves it. Reported for entries that declare O(units[].slice), and for removals of a drop-in
          that set one.
        - In check mode, for O(units[].state=absent), predicted from the unit's other files (the last C(Slice=) in its
          unit file and other drop-ins, else systemd's default slice).
      type: bool
      sample: true
    restarted:
      description: Whether the unit was restarted by this task (O(restart=true)).
      type: bool
      sample: false
    properties:
      description: The systemd properties written or set for the unit (device lists one per line).
      type: dict
      sample: {"MemoryMax": "1073741824", "CPUWeight": "200", "TasksMax": "512"}
    translated:
      description: Options written under another property name for this systemd, or that systemd converts for the
        cgroup v1 hierarchy, each with C(option), C(property) and C(reason).
      type: list
      elements: dict
      sample: []
    not_honoured:
      description: Options this host cannot enforce, each with C(option) and C(reason).
      type: list
      elements: dict
      sample: [{"option": "memory_high", "reason": "cgroup hybrid: MemoryHigh needs the unified hierarchy (cgroup v2); ..."}]
    live_pending:
      description:
        - Properties that are written but wait for the restart that moves the unit (cgroup v2). Their controller is not
          enabled in the cgroup the unit still runs in, and systemd enables controllers only along the new slice.
      type: list
      elements: str
      sample: [CPUQuota, AllowedCPUs]
    live_changes:
      description:
        - Properties whose value in the loaded unit differed from the declared one and were (or would be) changed, by
          the reload (persistent entries) or by C(systemctl set-property --runtime) (runtime entries), as property to
          C(before) and C(after).
      type: dict
      sample: {"MemoryMax": {"before": "infinity", "after": "1073741824"}}
    removed:
      description: For O(units[].state=absent), whether the drop-in was (or would be) removed.
      type: bool
      sample: true
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) ran (or would run in check mode).
  returned: always
  type: bool
  sample: true
restart_required:
  description: Names of the units that still need a restart to move to their declared slice.
  returned: always
  type: list
  elements: str
  sample: [nginx.service]
restarted:
  description: Names of the units this task restarted.
  returned: always
  type: list
  elements: str
  sample: []
"""

import copy
import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._placement import (
    PlacementError,
    dropin_path,
    foreign_dropins,
    is_active,
    is_template,
    parse_dropin,
    pending_until_restart,
    render_dropin,
    restart_required,
    running_slice,
    runtime_conflicts,
    slice_without_ours,
    unit_type,
    validate_placeable,
    validate_slice,
)
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
    atomic_write,
    read_text_or_none,
    remove_empty_dir,
    remove_file,
)
from ansible_collections.containerhost.platform.plugins.module_utils._unit_plan import (
    UnitEntry,
    UnitPlan,
    properties_diff,
)

ENTRY_KEYS = ("name", "slice", "runtime", "state")
# Read for every unit in the one systemctl show call, besides the limits themselves.
STATE_PROPERTIES = ("LoadState", "ActiveState", "Slice", "ControlGroup", "MainPID", "NeedDaemonReload", "DropInPaths",
                    "FragmentPath")
# Tests point this at a fake /proc and /sys.
_ROOT = "/"


def _host_path(path: str) -> str:
    """Map an absolute host path below _ROOT."""
    return os.path.join(_ROOT, path.lstrip("/"))


class PlacedUnit(UnitEntry):
    """One declared unit: what is wanted, what systemd has, and what to do about it."""

    def __init__(self, index: int, params: dict[str, t.Any], unit_dir: str) -> None:
        name = validate_placeable(params["name"], f"units[{index}] ({params['name']})")
        super().__init__(f"units[{index}] ({name})", name, params["state"], dropin_path(unit_dir, name))
        self.index = index
        self.runtime: bool = params["runtime"]
        self.slice = validate_slice(params["slice"], self.where) if params["slice"] is not None else None
        self.template = is_template(self.name)
        self.params = params
        self.plan = Plan()
        self.remove = False
        self.removed_slice: str | None = None
        self.restart_required = False
        self.restarted = False
        self.running_slice: str | None = None
        self.live_pending: dict[str, str] = {}

    @property
    def file_removed(self) -> bool:
        """Whether the drop-in goes away."""
        return self.remove

    @property
    def loaded(self) -> bool:
        """Whether systemd has the unit loaded (templates are never shown)."""
        return self.shown.get("LoadState") == "loaded"

    @property
    def active(self) -> bool:
        """Whether the unit was active when its state was read."""
        return is_active(self.shown)

    @property
    def changed(self) -> bool:
        """Whether anything about this unit changes."""
        return bool(self.file_changed or self.needs_reload or self.remove or self.live_diff or self.restarted)

    def result(self) -> dict[str, t.Any]:
        """The per-unit return value."""
        out = {"name": self.name, "state": self.state, "runtime": self.runtime, "changed": self.changed,
               "dropin": None if self.runtime else self.path, "slice": self.slice,
               "slice_before": self.shown.get("Slice") or None, "running_slice": self.running_slice,
               "active": self.active, "restart_required": self.restart_required, "restarted": self.restarted,
               **self.plan.as_dict(), "live_pending": sorted(self.live_pending),
               "live_changes": self.live_changes()}
        if self.state == "absent":
            out["removed"] = self.remove
        return out


class PlacementManager(UnitPlan):
    """Validates every entry, reads systemd once, then writes, reloads, restarts and sets once."""

    RESULT_KEY = "units"

    def __init__(self, module: AnsibleModule) -> None:
        super().__init__(module)
        # Normalised, because the drop-in path is compared with the DropInPaths systemd reports.
        self.unit_dir: str = os.path.normpath(module.params["unit_dir"])
        self.systemctl = Systemctl(module)
        self.host = host_limits(module, root=_ROOT, systemctl=self.systemctl.binary)
        self.entries: list[PlacedUnit] = []
        self._mountinfo: str | None = None

    # ---- 1. validate every entry before reading or touching anything
    def validate(self) -> None:
        """Check names, slices, combinations and every limit; fail naming the first bad entry and field."""
        seen: dict[str, str] = {}
        for index, params in enumerate(self.module.params["units"]):
            try:
                entry = PlacedUnit(index, params, self.unit_dir)
            except PlacementError as exc:
                self.module.fail_json(msg=str(exc))
            # Two entries for one unit would fight over one drop-in (or over a runtime value the drop-in resets).
            if entry.name in seen:
                self.module.fail_json(msg=f"{entry.where}: name: {entry.name} is already declared by "
                                          f"{seen[entry.name]}; declare each unit once")
            seen[entry.name] = entry.where
            self._validate_combination(entry)
            if entry.state == "present":
                limits = {key: value for key, value in params.items() if key not in ENTRY_KEYS}
                try:
                    normalised = normalise_limits(limits, entry.where, self.host)
                except ResourceError as exc:
                    self.module.fail_json(msg=str(exc))
                if not normalised and entry.slice is None:
                    self.module.fail_json(msg=f"{entry.where}: nothing to set; accepted: slice, at least one limit "
                                              f"option ({', '.join(LIMIT_OPTIONS)}), or both")
                entry.plan = plan_properties(normalised, self.host)
                if not entry.runtime:
                    entry.content = render_dropin(entry.name, entry.slice, entry.plan.properties)
            self.entries.append(entry)

    def _validate_combination(self, entry: PlacedUnit) -> None:
        """Refuse entries that ask for what systemd cannot do at runtime."""
        if not entry.runtime:
            return
        if entry.slice is not None:
            self.module.fail_json(msg=f"{entry.where}: slice: a running unit cannot move to another slice "
                                      "(systemctl set-property refuses Slice=); accepted: runtime: false, which writes "
                                      "Slice= to a drop-in and reports restart_required")
        if entry.state == "absent":
            self.module.fail_json(msg=f"{entry.where}: state: absent with runtime: true is not supported (runtime "
                                      f"changes end at reboot, or with systemctl revert {entry.name}); accepted: "
                                      "runtime: false, which removes the drop-in")
        if entry.template:
            self.module.fail_json(msg=f"{entry.where}: runtime: {entry.name} is a template, which does not run; "
                                      "accepted: an instance such as "
                                      f"{entry.name.replace('@.', '@example.', 1)}, or runtime: false")

    # ---- 2. read: drop-ins, one systemctl show
    def read(self) -> None:
        """Read every drop-in and the state of every unit (templates cannot be shown) with one systemctl show."""
        # systemctl show refuses a template name and then fails the whole call, so templates are left out.
        names = [entry.name for entry in self.entries if not entry.template]
        shown = self.systemctl.show(names, self._show_properties(self.entries))
        for entry in self.entries:
            entry.current = read_text_or_none(entry.path)
            entry.shown = shown.get(entry.name, {})
            entry.running_slice = running_slice(entry.shown.get("ControlGroup")) if entry.active else None

    @staticmethod
    def _show_properties(entries: list[PlacedUnit]) -> list[str]:
        """State properties plus every property the entries' plans read back."""
        properties = list(STATE_PROPERTIES)
        for entry in entries:
            for name in show_names(entry.plan):
                if name not in properties:
                    properties.append(name)
        return properties

    # ---- 3. decide, per unit, and refuse what the host state rules out (still before any change)
    def decide(self) -> None:
        """Work out drop-in changes, reloads, runtime changes and restarts."""
        for entry in self.entries:
            if entry.runtime:
                self._decide_runtime(entry)
            elif entry.state == "present":
                self._decide_present(entry)
            else:
                self._decide_absent(entry)

    def _decide_runtime(self, entry: PlacedUnit) -> None:
        """A runtime entry: the properties whose loaded value differs; the unit must be loaded."""
        if not entry.loaded:
            self.module.fail_json(msg=f"{entry.where}: runtime: {entry.name} is not loaded "
                                      f"(LoadState={entry.shown.get('LoadState') or 'unknown'}), and set-property needs "
                                      "a loaded unit; accepted: an existing unit, or runtime: false to write a drop-in")
        entry.live_diff = live_differences(entry.plan, entry.shown)
        if entry.live_diff and restart_required(entry.shown, entry.shown.get("Slice")):
            self._check_pending(entry)
        conflicts = runtime_conflicts(list(entry.live_diff), entry.current)
        if conflicts:
            self.module.warn(f"{entry.name}: {', '.join(conflicts)} also set by {entry.path}, which wins again at the "
                             "next daemon-reload; change the persistent entry to keep the runtime value")

    def _decide_present(self, entry: PlacedUnit) -> None:
        """A persistent present entry: drop-in content, whether systemd must reload, and the predicted restart."""
        entry.file_changed = entry.current != entry.content
        if entry.template:
            entry.needs_reload = entry.file_changed
            return
        if not entry.loaded:
            self.module.warn(f"{entry.name}: systemd does not know this unit "
                             f"(LoadState={entry.shown.get('LoadState') or 'unknown'}); the drop-in applies once it "
                             "exists")
            entry.needs_reload = entry.file_changed
            return
        differences = live_differences(entry.plan, entry.shown)
        slice_differs = entry.slice is not None and entry.shown.get("Slice") != entry.slice
        ours_loaded = entry.path in entry.shown.get("DropInPaths", "").split()
        # A new drop-in directory does not set NeedDaemonReload (systemd 252), so "ours not loaded" is checked too;
        # NeedDaemonReload=yes with differences is a runtime change that the reload puts back to our values.
        entry.needs_reload = entry.file_changed or entry.current is not None and not ours_loaded or (
            entry.shown.get("NeedDaemonReload") == "yes" and bool(differences or slice_differs))
        if entry.needs_reload:
            entry.live_diff = differences
        elif differences or slice_differs:
            self._warn_overridden(entry, sorted(differences) + (["Slice"] if slice_differs else []))
        if entry.slice is not None:
            # Where a restart would put it: the declared slice once reloaded, else what systemd has loaded (a later
            # drop-in may override ours, and then the restart goes there).
            target = entry.slice if entry.needs_reload else entry.shown.get("Slice")
            entry.restart_required = restart_required(entry.shown, target)
        if entry.restart_required:
            self._check_pending(entry)

    def _decide_absent(self, entry: PlacedUnit) -> None:
        """A persistent absent entry: remove our drop-in; a slice it set may leave the unit to move on restart."""
        # Our file name is ours alone; other drop-ins in the directory are left as they are.
        entry.remove = entry.current is not None
        entry.needs_reload = entry.remove
        entry.removed_slice = parse_dropin(entry.current).get("Slice") or None
        if entry.remove and entry.removed_slice and entry.active:
            # Predicted from the unit's other files (exact after the reload, which _after_reload reads back).
            others = [entry.shown.get("FragmentPath", "")] + [
                path for path in entry.shown.get("DropInPaths", "").split() if path != entry.path]
            after = slice_without_ours(entry.name, [read_text_or_none(path) for path in others if path])
            entry.restart_required = restart_required(entry.shown, after)

    def _check_pending(self, entry: PlacedUnit) -> None:
        """Find (cgroup v2) the limits that wait for a restart because their controller is not enabled where the unit
        runs now, and warn about them."""
        if self.host.cgroup_mode != "v2":
            return
        if self._mountinfo is None:
            self._mountinfo = read_text_or_none(_host_path("/proc/self/mountinfo")) or ""
        directory = cgroup_fs_path(self._mountinfo, entry.shown.get("ControlGroup", ""))
        if directory is None:
            return
        try:
            enabled = read_text_or_none(_host_path(os.path.join(directory, "cgroup.controllers")))
        except OSError:
            # Only a report: without the file the pending limits stay unknown, which is no reason to fail.
            enabled = None
        if enabled is None:
            return
        names = list(entry.live_diff if entry.runtime else entry.plan.properties)
        entry.live_pending = pending_until_restart(names, enabled.split())
        if entry.live_pending:
            missing = sorted(set(entry.live_pending.values()))
            what = f"the {missing[0]} controller is" if len(missing) == 1 else \
                f"the {', '.join(missing[:-1])} and {missing[-1]} controllers are"
            self.module.warn(f"{entry.name}: {', '.join(sorted(entry.live_pending))} take effect when it restarts: it "
                             f"still runs in {entry.running_slice}, where {what} not enabled for it, and systemd "
                             "enables controllers only along its new slice")

    def _warn_overridden(self, entry: PlacedUnit, names: list[str]) -> None:
        """Warn that drop-ins applied after ours hold other values; they are left alone."""
        others = foreign_dropins(entry.shown.get("DropInPaths", ""), entry.path)
        source = f"drop-ins applied after ours override them ({', '.join(others)})" if others else \
            "something else overrides them (see systemctl cat " + entry.name + ")"
        self.module.warn(f"{entry.name}: {', '.join(names)} differ from the declared values because {source}; "
                         "left as they are")

    # ---- 4. act
    def apply(self) -> None:
        """Write and remove drop-ins, reload once, re-read, restart what must move, then set runtime properties."""
        for entry in self.entries:
            if entry.file_changed:
                atomic_write(self.module, entry.path, entry.content)
            if entry.remove:
                remove_file(entry.path)
                remove_empty_dir(os.path.dirname(entry.path))
        if any(entry.needs_reload for entry in self.entries):
            # One reload for every drop-in; on systemd 252 it also applies the new limits to running units.
            self.systemctl.daemon_reload()
            self.daemon_reloaded = True
            self._after_reload()
        # Restarts come after the reload so that a unit starts with its new Slice=; runtime changes come last,
        # so that nothing in this task reloads them away.
        self._restart()
        for entry in self.entries:
            if entry.runtime and entry.live_diff:
                self.systemctl.set_property(entry.name, {name: want for name, (want, dummy) in entry.live_diff.items()},
                                            runtime=True)

    def _after_reload(self) -> None:
        """Read the reloaded units again: overrides that survived, and which units now need a restart to move."""
        reloaded = [entry for entry in self.entries if entry.needs_reload and not entry.template and not entry.runtime]
        if not reloaded:
            return
        shown = self.systemctl.show([entry.name for entry in reloaded], self._show_properties(reloaded))
        for entry in reloaded:
            now = shown.get(entry.name, {})
            if now.get("LoadState") != "loaded":
                continue
            if entry.state == "present":
                remaining = sorted(live_differences(entry.plan, now))
                if entry.slice is not None and now.get("Slice") != entry.slice:
                    remaining.append("Slice")
                if remaining:
                    entry.shown = {**entry.shown, "DropInPaths": now.get("DropInPaths", "")}
                    self._warn_overridden(entry, remaining)
                entry.restart_required = entry.slice is not None and restart_required(now, now.get("Slice"))
            elif entry.removed_slice:
                entry.restart_required = restart_required(now, now.get("Slice"))

    def _restart(self) -> None:
        """With restart=true, restart (one call) the units that must move; scopes cannot be restarted."""
        if not self.module.params["restart"]:
            return
        movable = []
        for entry in self.entries:
            if not entry.restart_required:
                continue
            if unit_type(entry.name) == "scope":
                self.module.warn(f"{entry.name}: a scope cannot be restarted; it stays in {entry.running_slice} until "
                                 "its processes end")
                continue
            movable.append(entry)
        if not movable:
            return
        self.systemctl.restart([entry.name for entry in movable])
        # Read back where they run now rather than assume it: a unit can fail to start or stay elsewhere.
        shown = self.systemctl.show([entry.name for entry in movable], ["ActiveState", "ControlGroup", "Slice"])
        for entry in movable:
            now = shown.get(entry.name, {})
            entry.restarted = True
            entry.live_pending = {}
            entry.running_slice = running_slice(now.get("ControlGroup")) if is_active(now) else None
            entry.restart_required = restart_required(now, now.get("Slice"))

    def predict(self) -> None:
        """Check mode: a reload and restarts are predicted wherever a real run would do them."""
        self.daemon_reloaded = any(entry.needs_reload for entry in self.entries)
        if self.module.params["restart"]:
            for entry in self.entries:
                if entry.restart_required and unit_type(entry.name) != "scope":
                    entry.restarted = True
                    entry.live_pending = {}
                    entry.restart_required = False

    def diff(self) -> list[dict[str, str]]:
        """Drop-ins before/after and unit properties (and slice) before/after, for changed units only."""
        diffs = []
        for entry in self.entries:
            diffs.extend(entry.file_diff())
            before = {name: have for name, (dummy, have) in entry.live_diff.items()}
            after = {name: want for name, (want, dummy) in entry.live_diff.items()}
            if entry.state == "present" and entry.slice and entry.needs_reload \
                    and entry.shown.get("Slice") != entry.slice:
                before["Slice"], after["Slice"] = entry.shown.get("Slice", ""), entry.slice
            if before:
                diffs.append(properties_diff(f"{entry.name} ({'runtime' if entry.runtime else 'loaded'} properties)",
                                             before, after))
        return diffs

    def summary(self) -> dict[str, t.Any]:
        """The units that need a restart and those restarted, across all entries."""
        return {"restart_required": [entry.name for entry in self.entries if entry.restart_required],
                "restarted": [entry.name for entry in self.entries if entry.restarted]}


def main() -> None:
    """Place and limit the units."""
    entry_options = {
        "name": {"type": "str", "required": True},
        "slice": {"type": "str"},
        "runtime": {"type": "bool", "default": False},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        **copy.deepcopy(LIMIT_OPTIONS),
    }
    module = AnsibleModule(
        argument_spec={
            "units": {"type": "list", "elements": "dict", "required": True, "options": entry_options},
            "restart": {"type": "bool", "default": False},
            "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
        },
        supports_check_mode=True,
    )
    manager = PlacementManager(module)
    try:
        manager.run()
    except SystemctlError as exc:
        manager.fail(str(exc), **exc.result())
    except OSError as exc:
        manager.fail(f"could not change {exc.filename or 'a drop-in'}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
