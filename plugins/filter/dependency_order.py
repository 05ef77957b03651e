# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The dependency_order filter: order system containers so that each comes after the units it depends on."""

from __future__ import annotations

DOCUMENTATION = r"""
name: dependency_order
short_description: Order system containers after the containers they depend on
version_added: 0.1.0
description:
  - Takes a list of system container definitions (dicts with C(name) and optional C(after), C(requires) and
    C(wants) lists of unit names) and returns them so that every container comes after the listed containers its
    unit is ordered after or depends on. Units that are not in the list (C(network-online.target),
    C(etcd.service) from a package) are ignored.
  - A unit name matches a container by C(<name>.service) or by the bare name.
  - Among containers without an ordering between them, the input order is kept.
  - A dependency cycle fails, naming the containers in it.
options:
  _input:
    description: The system container definitions.
    type: list
    elements: dict
    required: true
author:
  - containerhost.platform maintainers (@containerhost)
"""

EXAMPLES = r"""
- name: Install the system containers, etcd before flanneld before the engine
  containerhost.platform.system_container: "{{ __definition }}"
  loop: "{{ system_containers_list | containerhost.platform.dependency_order }}"
  loop_control:
    loop_var: __definition
"""

RETURN = r"""
_value:
  description: The same definitions, dependencies first.
  type: list
  elements: dict
"""

import typing as t

from ansible.errors import AnsibleFilterError

DEPENDENCY_KEYS = ("after", "requires", "wants")


def _unit_to_name(unit: str, names: set[str]) -> str | None:
    """The container a unit name refers to, if any."""
    if unit.endswith(".service") and unit[: -len(".service")] in names:
        return unit[: -len(".service")]
    return unit if unit in names else None


def dependency_order(containers: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Stable topological order of ``containers`` by their after/requires/wants units."""
    if not isinstance(containers, list) or not all(isinstance(c, dict) and c.get("name") for c in containers):
        raise AnsibleFilterError("dependency_order: expects a list of dicts, each with a 'name'")
    names = [str(c["name"]) for c in containers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AnsibleFilterError(f"dependency_order: system container names must be unique; repeated: {', '.join(duplicates)}")
    known = set(names)
    depends: dict[str, list[str]] = {}
    for container in containers:
        units = [u for key in DEPENDENCY_KEYS for u in (container.get(key) or [])]
        depends[str(container["name"])] = [d for d in (_unit_to_name(str(u), known) for u in units) if d and d != container["name"]]

    ordered: list[str] = []
    placed: set[str] = set()
    remaining = list(names)
    while remaining:
        ready = next((n for n in remaining if all(d in placed for d in depends[n])), None)
        if ready is None:
            raise AnsibleFilterError(
                "dependency_order: the system containers depend on each other in a cycle: " + ", ".join(
                    f"{n} (after {', '.join(d for d in depends[n] if d not in placed)})" for n in remaining))
        ordered.append(ready)
        placed.add(ready)
        remaining.remove(ready)
    by_name = {str(c["name"]): c for c in containers}
    return [by_name[n] for n in ordered]


class FilterModule:
    """containerhost.platform filters."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        """The filters this plugin provides."""
        return {"dependency_order": dependency_order}
