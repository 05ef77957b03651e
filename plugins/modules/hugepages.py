# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hugepages
short_description: Reserve hugepage pools (2M, 1G, whole system or per NUMA node), live and across reboots
version_added: 0.1.0
description:
  - Sets the number of persistent hugepages in the kernel's pools, for the whole system or for one NUMA node,
    by writing the kernel's own C(nr_hugepages) files, and reads them back to report what the kernel actually gave.
  - When memory is short or fragmented the kernel allocates fewer pages than asked; the pages it gave are reported
    as RV(pools[].achieved) and the task warns or fails as O(on_shortfall) says.
  - Keeps the counts across reboots with a file of C(<sysfs file> <pages>) lines, C(/etc/containerhost/hugepages.conf),
    and a oneshot unit, C(containerhost-hugepages.service), that writes them early at boot (before
    C(sysinit.target), so before container engines and every other service, and after C(systemd-sysctl.service), so
    that a C(vm.nr_hugepages) in C(sysctl.d) cannot undo them). C(sysctl.d) cannot do this itself, as it has no
    per-node setting. Both files carry the fingerprint C(# containerhost.platform:hugepages).
  - Every pool is validated before anything changes; a size or node this kernel does not have fails the task naming
    the field and listing what the kernel has.
  - In a container the pools belong to the host. The task then changes nothing, reports itself as skipped with the
    reason (RV(skip_reason)) and warns; it never fails for that.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  pools:
    description:
      - The pools to set (O(state=present)) or to release (O(state=absent)).
      - With O(state=present), pools that are not listed keep their live count and their boot-time entry.
      - With O(state=absent) and no pools, every pool in the boot-time file is released and both files are removed.
    type: list
    elements: dict
    default: []
    suboptions:
      size:
        description:
          - Page size, with a unit; V(2M), V(1G), V(2048kB), V(1GiB) and the like. It must be one of the sizes of
            C(/sys/kernel/mm/hugepages).
        type: str
        required: true
      count:
        description:
          - Persistent pages wanted in the pool. Required with O(state=present), ignored with O(state=absent).
          - V(0) releases the pool's free pages.
        type: int
      node:
        description:
          - NUMA node whose pool is set (C(/sys/devices/system/node/node<N>/hugepages/)).
          - Omit it for the whole system (C(/sys/kernel/mm/hugepages/)), where the kernel spreads the pages over the
            nodes. One size is declared either for the whole system or per node, not both.
        type: int
  live:
    description: Change the running kernel's pools now.
    type: bool
    default: true
  persistent:
    description:
      - Keep the counts across reboots in the boot-time file and enable the unit that applies them.
      - Needs systemd (C(systemctl)).
    type: bool
    default: true
  on_shortfall:
    description:
      - What to do when the kernel gives fewer pages than asked. V(warn) warns and succeeds; V(fail) fails the task
        after the change, with the same return values.
    type: str
    choices: [fail, warn]
    default: warn
  state:
    description:
      - V(present) sets the pools of O(pools) to their counts.
      - V(absent) sets them to 0 and drops them from the boot-time file; the file and the unit go away once no pool
        is left in it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the same state and predicts C(changed) for each pool whose count differs from the one asked; writes nothing.
      - It cannot know how many pages the kernel would give, so RV(pools[].achieved) is null for pools that would change.
  diff_mode:
    support: full
    details: Shows the boot-time file and the unit before and after, and the live counts before and after.
  idempotent:
    support: full
    details:
      - A second run changes nothing once the kernel has the pages. A pool the kernel could not fill is asked again on
        every run and is reported changed only when the kernel then gives a different number of pages.
  platform:
    support: full
    platforms: posix
    details: Linux with hugetlbfs support; O(persistent) needs systemd.
notes:
  - Pages of 1G (gigantic pages) need contiguous memory, which a running system seldom has. They are reliably
    reserved only on the kernel command line (C(hugepagesz=1G hugepages=N), or per node C(hugepages=0:N,1:M) on
    Linux 5.16 and later). When such a pool falls short the task suggests the parameters in
    RV(cmdline_suggestion); it never edits the boot loader.
  - The counts are persistent pages (C(nr_hugepages) minus C(surplus_hugepages)). Shrinking a pool whose pages are
    in use leaves those pages as surplus until they are freed.
  - The unit runs at boot; the task itself applies the counts to the running kernel, so the unit stays inactive
    until the next boot.
seealso:
  - module: containerhost.platform.host_info
  - module: containerhost.platform.node_fitness
  - name: HugeTLB Pages
    description: The kernel's documentation of hugepage pools and their sysfs files.
    link: https://docs.kernel.org/admin-guide/mm/hugetlbpage.html
"""

EXAMPLES = r"""
- name: 1024 pages of 2M for the whole system, now and at every boot
  containerhost.platform.hugepages:
    pools:
      - size: 2M
        count: 1024

- name: Pages next to the NIC's NUMA node, and fail if memory is short
  containerhost.platform.hugepages:
    pools:
      - size: 1G
        count: 4
        node: 1
      - size: 2M
        count: 512
        node: 1
    on_shortfall: fail
  register: pages

- name: Show the kernel parameters to use when the 1G pages fell short
  ansible.builtin.debug:
    msg: "{{ pages.cmdline_suggestion }}"
  when: pages.cmdline_suggestion

- name: Release every pool this module reserved and remove its unit
  containerhost.platform.hugepages:
    state: absent
"""

RETURN = r"""
pools:
  description:
    - One entry per pool set or released, in the order of O(pools); for O(state=absent) without pools, one per entry
      of the boot-time file, largest pages first.
  returned: always
  type: list
  elements: dict
  contains:
    size:
      description: Page size as sysfs names it.
      type: str
      sample: 2048kB
    node:
      description: NUMA node; null for the whole system.
      type: int
      sample: 0
    path:
      description: The kernel's file holding the pool's page count.
      type: str
      sample: /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
    wanted:
      description: Pages asked for (0 for O(state=absent)).
      type: int
      sample: 512
    before:
      description: Persistent pages in the pool before the task; null when unreadable.
      type: int
      sample: 0
    achieved:
      description:
        - Persistent pages in the pool after the task, read back from the kernel's files.
        - Null in check mode for a pool that would change.
      type: int
      sample: 512
    free:
      description: Free pages in the pool after the task (before it in check mode).
      type: int
      sample: 512
    changed:
      description: Whether the pool's live count changed (or would change in check mode).
      type: bool
      sample: true
    shortfall:
      description: Pages the kernel did not give (O(pools[].count) minus RV(pools[].achieved)); 0 when it gave all.
      type: int
      sample: 0
    skipped:
      description: Why the pool was left alone (in a container); null otherwise.
      type: str
      sample: null
persistent:
  description: The boot-time file and unit.
  returned: always
  type: dict
  contains:
    config_file:
      description: Path of the boot-time file.
      type: str
      sample: /etc/containerhost/hugepages.conf
    unit_file:
      description: Path of the unit file.
      type: str
      sample: /etc/systemd/system/containerhost-hugepages.service
    entries:
      description: The boot-time entries after the task, sysfs file to pages.
      type: dict
      sample: {"/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": 1024}
    changed:
      description: Whether either file, or the unit's enablement, changed (or would change).
      type: bool
      sample: true
    enabled:
      description: Whether the unit is enabled after the task (null when O(persistent=false) or skipped).
      type: bool
      sample: true
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) ran (or would run in check mode).
  returned: always
  type: bool
  sample: true
shortfall:
  description: Whether any pool got fewer pages than asked.
  returned: always
  type: bool
  sample: false
cmdline_suggestion:
  description: Kernel command line parameters that would reserve the short gigantic (1G) pools at boot; null otherwise.
  returned: always
  type: str
  sample: hugepagesz=1G hugepages=0:4
skip_reason:
  description: Why nothing was done (a container, a read-only sysfs). The task is then reported as skipped.
  returned: when skipped
  type: str
  sample: "sysfs is read-only (container): hugepages belong to the host"
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._hugepages import (
    CONFIG_PATH,
    UNIT_DIR,
    UNIT_NAME,
    HostHugepages,
    HugepageError,
    PoolRequest,
    check_supported,
    cmdline_suggestion,
    live_targets,
    normalise_pools,
    parse_config,
    persistent_count,
    plan_config,
    render_config,
    render_unit_file,
    shortfall_message,
    size_name,
    skip_reason,
    write_order,
)
from ansible_collections.containerhost.platform.plugins.module_utils._systemctl import Systemctl, SystemctlError
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import atomic_write, remove_file

# Tests point this at a fake tree holding /sys, /proc, /run and /etc.
_ROOT = "/"


class PoolState:
    """One pool to set: what is wanted, what the kernel had, and what it has after the task."""

    def __init__(self, request: PoolRequest, live: bool) -> None:
        self.request = request
        self.live = live
        self.before: int | None = None
        self.achieved: int | None = None
        self.free: int | None = None
        self.written = False
        self.skipped: str | None = None

    @property
    def wanted(self) -> int:
        """Pages asked for (0 when releasing)."""
        return self.request.count or 0

    @property
    def needs_write(self) -> bool:
        """Whether the live count is to be set: it differs from the wanted one and the task changes live counts."""
        return self.live and self.skipped is None and self.before != self.wanted

    @property
    def changed(self) -> bool:
        """After a real write, whether the kernel's count moved; before it (check mode), whether it would be written."""
        if self.written:
            return self.achieved != self.before
        return self.needs_write

    @property
    def shortfall(self) -> int:
        """Pages missing after a write."""
        if not self.written or self.achieved is None:
            return 0
        return max(self.wanted - self.achieved, 0)

    def result(self) -> dict[str, t.Any]:
        """The per-pool return value."""
        return {"size": size_name(self.request.size_kib), "node": self.request.node, "path": self.request.path,
                "wanted": self.wanted, "before": self.before, "achieved": self.achieved, "free": self.free,
                "changed": self.changed, "shortfall": self.shortfall, "skipped": self.skipped}


class HugepagesManager:
    """Validate every pool, read the kernel and the boot-time files, then write once (or predict in check mode)."""

    def __init__(self, module: AnsibleModule, host: HostHugepages) -> None:
        self.module = module
        self.host = host
        self.params = module.params
        self.requests: list[PoolRequest] = []
        self.pools: list[PoolState] = []
        self.skip_reason: str | None = None
        self.systemctl: Systemctl | None = None
        self.config_path = CONFIG_PATH
        self.unit_path = os.path.join(UNIT_DIR, UNIT_NAME)
        self.config_before: str | None = None
        self.config_after: str | None = None
        self.unit_before: str | None = None
        self.unit_after: str | None = None
        self.entries: dict[str, int] = {}
        self.enabled_before: bool | None = None
        self.enabled_after: bool | None = None
        self.daemon_reloaded = False

    # ---- 1. validate everything before touching anything
    def validate(self) -> None:
        """Pools syntax always; kernel support, and systemd for persistence, only where the task will act."""
        state = self.params["state"]
        try:
            self.requests = normalise_pools(self.params["pools"], state)
        except HugepageError as exc:
            self.module.fail_json(msg=str(exc))
        if state == "present" and not self.requests:
            self.module.fail_json(msg="pools: give at least one pool with state=present (each with size and count)")
        self.skip_reason = skip_reason(self.host.container(), self.host.sysfs_read_only())
        if self.skip_reason:
            return
        if state == "present" or self.requests:
            try:
                check_supported(self.requests, self.host.system_sizes(), self.host.node_sizes())
            except HugepageError as exc:
                self.module.fail_json(msg=str(exc))
        if self.params["persistent"]:
            binary = self.module.get_bin_path("systemctl")
            if not binary:
                self.module.fail_json(msg="persistent: true needs systemd, and systemctl was not found; use "
                                          "persistent: false, or reserve the pages on the kernel command line")
            self.systemctl = Systemctl(self.module, binary)

    # ---- 2. read the kernel and the boot-time files
    def read(self) -> None:
        """Current boot-time entries, unit and enablement, and the live counters of every pool to set."""
        self.config_before = self.host.read_text(self.config_path)
        current = parse_config(self.config_before)
        targets = live_targets(current, self.requests, self.params["state"])
        if self.params["state"] == "absent" and not self.requests:
            # Entries of pools this kernel no longer has (a node gone) hold nothing live; they just leave the file.
            sizes, nodes = self.host.system_sizes(), self.host.node_sizes()
            targets = [target for target in targets if target.size_kib in sizes
                       and (target.node is None or target.size_kib in nodes.get(target.node, []))]
        for target in targets:
            pool = PoolState(target, self.params["live"])
            counters = self.host.read_pool(target.size_kib, target.node)
            pool.before = persistent_count(counters)
            pool.free = counters.get("free")
            pool.achieved = pool.before
            self.pools.append(pool)
        if self.params["persistent"]:
            self.unit_before = self.host.read_text(self.unit_path)
            self.entries = plan_config(current, self.requests, self.params["state"])
            self.enabled_before = self._is_enabled()

    def _is_enabled(self) -> bool:
        """Whether the unit is enabled; is-enabled exits non-zero for every other answer, so the word decides."""
        dummy_rc, out, dummy_err = t.cast(Systemctl, self.systemctl).run(["is-enabled", "--", UNIT_NAME], check=False)
        return out.strip().splitlines()[:1] == ["enabled"]

    # ---- 3. decide
    def decide(self) -> None:
        """The files after the task and the unit's wanted enablement."""
        if not self.params["persistent"]:
            return
        if self.entries:
            self.config_after = render_config(self.entries)
            self.unit_after = render_unit_file()
            self.enabled_after = True
        else:
            self.enabled_after = False

    @property
    def unit_changed(self) -> bool:
        """Whether the unit file is written or removed."""
        return self.params["persistent"] and self.unit_before != self.unit_after

    @property
    def persistent_changed(self) -> bool:
        """Whether anything about the boot-time set-up changes."""
        if not self.params["persistent"]:
            return False
        return (self.config_before != self.config_after or self.unit_changed
                or self.enabled_before != self.enabled_after)

    @property
    def systemd_booted(self) -> bool:
        """Whether systemd runs here (a reload makes sense)."""
        return os.path.isdir(self.host.host_path("/run/systemd/system"))

    # ---- 4. act
    def apply(self) -> None:
        """Write the pools (shrinking ones first), read them back, then the files, reload and enablement."""
        if self.params["live"]:
            before = {pool.request.path: pool.before for pool in self.pools}
            order = write_order([pool.request for pool in self.pools if pool.needs_write], before)
            by_path = {pool.request.path: pool for pool in self.pools}
            for request in order:
                pool = by_path[request.path]
                try:
                    self.host.write_count(request.size_kib, request.node, pool.wanted)
                except OSError as exc:
                    self.fail(f"could not write {pool.wanted} to {request.path}: {exc.strerror or exc}")
                pool.written = True
            for pool in self.pools:
                counters = self.host.read_pool(pool.request.size_kib, pool.request.node)
                pool.achieved = persistent_count(counters)
                pool.free = counters.get("free")
        if self.params["persistent"]:
            self._apply_files()

    def _apply_files(self) -> None:
        """Write or remove the boot-time file and the unit; reload once; enable or disable."""
        systemctl = t.cast(Systemctl, self.systemctl)
        if self.enabled_before and not self.enabled_after:
            systemctl.run(["disable", "--", UNIT_NAME])
        if self.config_after is None:
            remove_file(self.host.host_path(self.config_path))
        elif self.config_before != self.config_after:
            atomic_write(self.module, self.host.host_path(self.config_path), self.config_after, 0o644)
        if self.unit_changed:
            if self.unit_after is None:
                remove_file(self.host.host_path(self.unit_path))
            else:
                atomic_write(self.module, self.host.host_path(self.unit_path), self.unit_after, 0o644)
            if self.systemd_booted:
                systemctl.daemon_reload()
                self.daemon_reloaded = True
        if self.enabled_after and not self.enabled_before:
            systemctl.run(["enable", "--", UNIT_NAME])

    def predict(self) -> None:
        """Check mode: the counts of pools that would change are unknown until the kernel answers."""
        for pool in self.pools:
            if pool.needs_write:
                pool.achieved = None
        self.daemon_reloaded = bool(self.unit_changed and self.systemd_booted)

    # ---- results
    def diff(self) -> list[dict[str, str]]:
        """Files before/after and live counts before/after."""
        diffs = []
        if self.params["persistent"]:
            for path, before, after in ((self.config_path, self.config_before, self.config_after),
                                        (self.unit_path, self.unit_before, self.unit_after)):
                if before != after:
                    diffs.append({"before_header": path, "after_header": path, "before": before or "",
                                  "after": after or ""})
            if self.enabled_before != self.enabled_after:
                diffs.append({"before_header": f"{UNIT_NAME} (enabled)", "after_header": f"{UNIT_NAME} (enabled)",
                              "before": f"{bool(self.enabled_before)}\n", "after": f"{bool(self.enabled_after)}\n"})
        changing = [pool for pool in self.pools if pool.needs_write]
        if changing:
            diffs.append({"before_header": "hugepages (live)", "after_header": "hugepages (live)",
                          "before": "".join(f"{pool.request.path}={pool.before}\n" for pool in changing),
                          "after": "".join(f"{pool.request.path}={pool.wanted}\n" for pool in changing)})
        return diffs

    def result(self) -> dict[str, t.Any]:
        """Everything the task returns."""
        short = [pool for pool in self.pools if pool.shortfall]
        suggestion = cmdline_suggestion([(pool.request.size_kib, pool.request.node, pool.wanted) for pool in short])
        result: dict[str, t.Any] = {
            "changed": any(pool.changed for pool in self.pools) or self.persistent_changed,
            "pools": [pool.result() for pool in self.pools],
            "persistent": {"config_file": self.config_path, "unit_file": self.unit_path, "entries": self.entries,
                           "changed": self.persistent_changed, "enabled": self.enabled_after},
            "daemon_reloaded": self.daemon_reloaded,
            "shortfall": bool(short),
            "cmdline_suggestion": suggestion,
        }
        if self.module._diff:
            result["diff"] = self.diff()
        return result

    def fail(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        """Fail keeping what was found and done so far."""
        result = self.result()
        result.update(kwargs)
        self.module.fail_json(msg=msg, **result)

    def skip(self) -> t.NoReturn:
        """Report every pool as skipped, with the reason, and change nothing."""
        reason = t.cast(str, self.skip_reason)
        self.module.warn(f"hugepages not managed: {reason}")
        pools = []
        for request in self.requests:
            pool = PoolState(request, False)
            pool.skipped = reason
            pools.append(pool.result())
        self.module.exit_json(changed=False, skipped=True, skip_reason=reason, pools=pools,
                              persistent={"config_file": self.config_path, "unit_file": self.unit_path,
                                          "entries": {}, "changed": False, "enabled": None},
                              daemon_reloaded=False, shortfall=False, cmdline_suggestion=None)

    def run(self) -> None:
        """Validate, read, decide, act (unless in check mode) and exit."""
        self.validate()
        if self.skip_reason:
            self.skip()
        self.read()
        self.decide()
        if self.module.check_mode:
            self.predict()
        else:
            self.apply()
        result = self.result()
        if result["shortfall"]:
            short = [pool.result() for pool in self.pools if pool.shortfall]
            message = shortfall_message(short, result["cmdline_suggestion"])
            if self.params["on_shortfall"] == "fail":
                self.module.fail_json(msg=message, **result)
            self.module.warn(message)
        self.module.exit_json(**result)


def main() -> None:
    """Set the hugepage pools."""
    module = AnsibleModule(
        argument_spec={
            "pools": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "size": {"type": "str", "required": True},
                    "count": {"type": "int"},
                    "node": {"type": "int"},
                },
            },
            "live": {"type": "bool", "default": True},
            "persistent": {"type": "bool", "default": True},
            "on_shortfall": {"type": "str", "choices": ["fail", "warn"], "default": "warn"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        supports_check_mode=True,
    )
    manager = HugepagesManager(module, HostHugepages(_ROOT))
    try:
        manager.run()
    except SystemctlError as exc:
        manager.fail(str(exc), **exc.result())
    except OSError as exc:
        manager.fail(f"could not change {exc.filename or 'a file'}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
