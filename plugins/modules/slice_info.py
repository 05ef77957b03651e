# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: slice_info
short_description: Report systemd slices as a tree, with their limits and current usage
version_added: 0.1.0
description:
  - Lists systemd slices (loaded ones and those with a unit file), each with its parent and children, the limits
    systemd has configured for it, and its current memory, task and CPU usage.
  - Reads everything with C(systemctl list-units), C(systemctl list-unit-files) and one C(systemctl show) for all
    slices; changes nothing.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  names:
    description:
      - Slices to report, as names or shell-style globs such as V(tenant-*.slice); V(.slice) is appended to a name
        without a suffix.
      - A name without glob characters is reported even when systemd does not know it (with C(load_state) V(not-found)).
      - All slices when empty.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._attributes.INFO_MODULE
attributes:
  platform:
    support: full
    platforms: posix
    details: Linux with systemd as the service manager.
notes:
  - Usage values are null when systemd does not account for them (for example when the memory controller is not
    available to it, as in a container on a cgroup v1 or hybrid host).
seealso:
  - module: containerhost.platform.slice
"""

EXAMPLES = r"""
- name: Read every tenant slice
  containerhost.platform.slice_info:
    names:
      - tenant.slice
      - tenant-*.slice
  register: tenants

- name: Show how much memory tenant A uses against its cap
  ansible.builtin.debug:
    msg: >-
      {{ tenants.slices['tenant-a.slice'].usage.memory_current_bytes }} of
      {{ tenants.slices['tenant-a.slice'].limits.memory_max }} bytes
"""

RETURN = r"""
slices:
  description: The slices found, keyed by unit name.
  returned: always
  type: dict
  contains:
    name:
      description: Unit name.
      type: str
      sample: tenant-a.slice
    description:
      description: C(Description=) of the slice.
      type: str
      sample: Tenant A
    parent:
      description: The slice it is nested in (V(-.slice) for a top-level slice); null for the root slice.
      type: str
      sample: tenant.slice
    children:
      description: Reported slices directly below this one, sorted.
      type: list
      elements: str
      sample: [tenant-a-web.slice]
    load_state:
      description: C(LoadState) (V(loaded), V(not-found), ...).
      type: str
      sample: loaded
    active_state:
      description: C(ActiveState); a slice is active while a unit runs in it.
      type: str
      sample: active
    unit_file:
      description: The slice's unit file (C(FragmentPath)); null when it has none.
      type: str
      sample: /etc/systemd/system/tenant-a.slice
    drop_ins:
      description: Drop-in files that change the slice (C(DropInPaths)).
      type: list
      elements: str
      sample: [/run/systemd/system.control/tenant-a.slice.d/50-MemoryMax.conf]
    managed:
      description: Whether the unit file carries the fingerprint of the M(containerhost.platform.slice) module.
      type: bool
      sample: true
    control_group:
      description: The slice's cgroup path; empty while the slice is inactive.
      type: str
      sample: /tenant.slice/tenant-a.slice
    limits:
      description:
        - Every limit option of M(containerhost.platform.slice) with the value systemd has, in the same forms
          (bytes for sizes, percentages as computed by systemd, lists of CPUs); null where no limit is set.
      type: dict
      sample: {"cpu_quota": "150%", "memory_max": 4294967296, "memory_high": null, "allowed_cpus": [0, 1]}
    usage:
      description: Current use, from C(MemoryCurrent), C(TasksCurrent) and C(CPUUsageNSec); null when not accounted.
      type: dict
      contains:
        memory_current_bytes:
          description: Memory in use, in bytes.
          type: int
          sample: 52428800
        tasks_current:
          description: Tasks (processes and threads).
          type: int
          sample: 12
        cpu_usage_nsec:
          description: CPU time used since the slice started, in nanoseconds.
          type: int
          sample: 145152060000
roots:
  description: Reported slices whose parent is not reported, sorted; the tops of the tree.
  returned: always
  type: list
  elements: str
  sample: [tenant.slice]
"""

import fnmatch

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._resource_control import (
    USAGE_SHOW_NAMES,
    all_show_names,
    shown_limits,
    shown_usage,
)
from ansible_collections.containerhost.platform.plugins.module_utils._systemctl import Systemctl, SystemctlError
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import (
    ROOT_SLICE,
    UnitNameError,
    has_fingerprint,
    read_text_or_none,
    slice_parent,
    validate_unit_name,
)

STATE_PROPERTIES = ("Description", "LoadState", "ActiveState", "FragmentPath", "DropInPaths", "ControlGroup")
_GLOB_CHARS = frozenset("*?[")


def wanted_names(patterns: list[str], known: list[str]) -> list[str]:
    """Known slices matching the patterns, plus plain names given explicitly; all known slices without patterns."""
    if not patterns:
        return sorted(set(known))
    selected = set()
    for pattern in patterns:
        if _GLOB_CHARS & set(pattern):
            selected.update(fnmatch.filter(known, pattern))
        else:
            selected.add(pattern)
    return sorted(selected)


def describe(name: str, shown: dict[str, str]) -> dict:
    """One slice's entry from its systemctl show properties (children are filled in later)."""
    fragment = shown.get("FragmentPath") or None
    # systemd ties a slice to the parent its name spells, so the name is the answer even for unloaded slices.
    parent = None if name == ROOT_SLICE else slice_parent(name)
    return {
        "name": name,
        "description": shown.get("Description", ""),
        "parent": parent,
        "children": [],
        "load_state": shown.get("LoadState", ""),
        "active_state": shown.get("ActiveState", ""),
        "unit_file": fragment,
        "drop_ins": shown.get("DropInPaths", "").split(),
        "managed": has_fingerprint(read_text_or_none(fragment), "slice") if fragment else False,
        "control_group": shown.get("ControlGroup", ""),
        "limits": shown_limits(shown),
        "usage": shown_usage(shown),
    }


def main() -> None:
    """Report the slices."""
    module = AnsibleModule(
        argument_spec={"names": {"type": "list", "elements": "str", "default": []}},
        supports_check_mode=True,
    )
    patterns = []
    for index, name in enumerate(module.params["names"]):
        if _GLOB_CHARS & set(name):
            patterns.append(name)
            continue
        try:
            patterns.append(validate_unit_name(name, "slice"))
        except UnitNameError as exc:
            module.fail_json(msg=f"names[{index}]: {exc}")
    systemctl = Systemctl(module)
    try:
        known = systemctl.list_units("slice") + systemctl.list_unit_files("slice")
        names = wanted_names(patterns, known)
        shown = systemctl.show(names, [*STATE_PROPERTIES, *all_show_names(), *USAGE_SHOW_NAMES])
    except SystemctlError as exc:
        module.fail_json(msg=str(exc), **exc.result())
    slices = {name: describe(name, shown.get(name, {})) for name in names}
    for name, entry in slices.items():
        if entry["parent"] in slices:
            slices[entry["parent"]]["children"].append(name)
    for entry in slices.values():
        entry["children"].sort()
    roots = sorted(name for name, entry in slices.items() if entry["parent"] not in slices)
    module.exit_json(changed=False, slices=slices, roots=roots)


if __name__ == "__main__":
    main()
