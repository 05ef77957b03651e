# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mcs_label
short_description: Allocate unique SELinux MCS labels (category pairs) for containers, recorded on the host
version_added: 0.1.0
description:
  - Gives each name (a container, a system container, a pod) an SELinux MCS level with its own pair of categories,
    V(s0:cX,cY) with X < Y, from the range in O(categories). Containers with different pairs cannot read or write
    each other's files even when they run with the same SELinux type.
  - Allocations are recorded on the host in O(state_path), read and written under an exclusive lock, so concurrent
    runs never hand out a pair twice and a re-run returns the same labels.
  - A new pair starts at a hash of the name over the range and moves on to the next free pair. It is never a pair
    recorded for another name, the static label of another name (O(static)), or (with O(exclude_running)) a pair held
    by a running process or a podman container.
  - A recorded label is kept as long as it is valid. It is replaced when it lies outside O(categories), is another
    name's static label, or is recorded for another name as well. The module then warns, because what runs under
    the old label has to be restarted.
  - Works with SELinux disabled or permissive too. The allocations are kept, and RV(selinux) and RV(msg) say that
    SELinux is off.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  name:
    description:
      - One name to allocate a label for (or to release, or to look up). Returns RV(label).
      - Mutually exclusive with O(names). One of them is required.
    type: str
  names:
    description:
      - Many names in one call, with one lock and one read and write of the record.
      - Names are non-empty, at most 255 characters long, without whitespace or control characters.
    type: list
    elements: str
  state:
    description:
      - V(present) allocates a label for each name, or keeps the one it has.
      - V(absent) releases the names' labels, so their pairs can go to other names.
      - M(containerhost.platform.mcs_label_info) lists the allocations.
    type: str
    choices: [present, absent]
    default: present
  level:
    description:
      - The MLS sensitivity of the labels (V(s0) for the targeted policy).
      - A recorded label at another level keeps its pair and takes this level.
    type: str
    default: s0
  categories:
    description:
      - The range new pairs are taken from. Both ends are included.
      - Recorded labels outside it are replaced; static labels may lie outside it.
    type: dict
    suboptions:
      min:
        description: The lowest category, 0 or more.
        type: int
        default: 0
      max:
        description: The highest category, more than O(categories.min) and at most 1023.
        type: int
        default: 1023
  static:
    description:
      - Fixed labels as name to label (V(s0:c3,c17)). A name listed here gets exactly this label. No other name
        ever gets its pair, whether or not the name is among those of this task.
      - Each pair may appear once, at O(level).
    type: dict
    default: {}
  state_path:
    description:
      - The JSON file the allocations are recorded in (mode 0600, its directory 0700 when the module creates it).
        A lock file with the suffix C(.lock) sits next to it.
      - Every task that allocates on a host must use the same file, otherwise pairs can repeat.
    type: path
    default: /var/lib/containerhost/mcs/allocations.json
  exclude_running:
    description:
      - When a new pair is needed, also skip pairs held by running processes (their C(/proc/PID/attr/current) when
        SELinux is enabled) and by every container podman knows (their process and mount labels and any
        C(--security-opt label=level:...)), when podman is installed.
      - Without it, only the recorded and static pairs are skipped.
    type: bool
    default: true
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details: Reads the same record and running labels and predicts the labels and C(changed) exactly; writes no file.
  diff_mode:
    support: full
    details: Shows the changed names with their labels before and after.
  idempotent:
    support: full
    details: A second run with the same names returns the same labels and changes nothing.
  platform:
    support: full
    platforms: posix
    details: Linux. SELinux may be enforcing, permissive or disabled.
notes:
  - Stopped podman containers count as using their pair too, because they get it back when they start again.
  - Pairs of containers started outside this module are only skipped if they run or exist when a new pair is
    allocated. Give such labels to O(static) to reserve them for good.
seealso:
  - module: containerhost.platform.mcs_label_info
  - name: SELinux MCS for containers
    description: How container runtimes separate containers with MCS categories.
    link: https://github.com/containers/container-selinux
"""

EXAMPLES = r"""
- name: Allocate labels for the system containers of this host
  containerhost.platform.mcs_label:
    names: [etcd, flannel, registry-cache]
    categories:
      min: 100
      max: 1023
    static:
      legacy-db: s0:c5,c6
  register: mcs

- name: Use the label of one container
  ansible.builtin.debug:
    msg: "etcd runs with {{ mcs.labels.etcd }}"

- name: Release the label of a container that is gone
  containerhost.platform.mcs_label:
    name: registry-cache
    state: absent

- name: Give a container exactly the label it already runs with
  containerhost.platform.mcs_label:
    name: legacy-db
    static:
      legacy-db: s0:c5,c6
"""

RETURN = r"""
label:
  description: The label of O(name).
  returned: when O(name) is given and O(state=present)
  type: str
  sample: s0:c117,c902
labels:
  description:
    - Name to label for the names of the task, in their order.
    - V({}) with O(state=absent).
  returned: always
  type: dict
  sample: {"etcd": "s0:c117,c902", "flannel": "s0:c48,c611"}
allocated:
  description: Names that got (or in check mode would get) a label they did not have.
  returned: always
  type: list
  elements: str
  sample: [flannel]
moved:
  description: Names whose recorded label was replaced, each with the reason. What runs under the old label needs a
    restart.
  returned: always
  type: dict
  sample: {"web": "s0:c3,c1000 is outside categories c0..c511"}
released:
  description: Names whose allocation was (or in check mode would be) removed.
  returned: always
  type: list
  elements: str
  sample: [registry-cache]
selinux:
  description: The host's SELinux mode.
  returned: always
  type: str
  choices: [disabled, permissive, enforcing]
  sample: enforcing
msg:
  description: What happened, and whether SELinux is off.
  returned: always
  type: str
  sample: "1 allocated, 2 kept"
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._mcs import (
    McsAllocator,
    McsError,
    Pair,
    Plan,
    labels_in_use,
    parse_podman_inspect,
    parse_podman_ps,
    selinux_state,
    validate_name,
)
from ansible_collections.containerhost.platform.plugins.module_utils._podman import ENVIRON, failure_detail

# Tests point this at a fake /proc and /sys.
_ROOT = "/"
# podman container inspect exits 125 when a container went away after ps listed it; the others are printed.
_INSPECT_PARTIAL_RC = 125


def _host_path(path: str) -> str:
    """Map an absolute host path below _ROOT."""
    return os.path.join(_ROOT, path.lstrip("/"))


class PodmanLabels:
    """The one runner for podman here: the pairs of every container podman knows (two calls)."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.binary = module.get_bin_path("podman")

    def _run(self, args: list[str], accepted: tuple[int, ...] = (0,)) -> str:
        """Run podman; a failure raises McsError naming exclude_running and the way out."""
        argv = [self.binary, *args]
        rc, out, err = self.module.run_command(argv, environ_update=ENVIRON)
        if rc not in accepted:
            detail = failure_detail(err or out) or f"exit status {rc}"
            raise McsError(f"exclude_running: podman {args[0]} {args[1]} failed ({detail}), so the labels of its "
                           "containers are unknown; fix podman or set exclude_running=false")
        return out

    def pairs(self) -> set[Pair]:
        """Pairs of all containers (also stopped ones, which get their label back when they start)."""
        if not self.binary:
            return set()
        try:
            ids = parse_podman_ps(self._run(["ps", "--all", "--format", "json"]))
            if not ids:
                return set()
            return parse_podman_inspect(self._run(["container", "inspect", "--", *ids],
                                                  accepted=(0, _INSPECT_PARTIAL_RC)))
        except McsError:
            raise
        except ValueError as exc:
            raise McsError(f"exclude_running: podman printed something that is not its JSON ({exc})") from None


class McsLabelManager:
    """Validates the task, then reads, plans and writes the record once under the lock."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.state = params["state"]
        if params["name"] is not None:
            self.names = [self._valid(params["name"], "name")]
        else:
            self.names = list(dict.fromkeys(self._valid(name, f"names[{index}]")
                                            for index, name in enumerate(params["names"] or [])))
            if not self.names:
                module.fail_json(msg="names: at least one name is needed")
        categories = params["categories"]
        try:
            self.allocator = McsAllocator(params["state_path"], level=params["level"],
                                          category_min=categories["min"], category_max=categories["max"],
                                          static=params["static"])
        except McsError as exc:
            module.fail_json(msg=str(exc))
        self.selinux = selinux_state(_host_path("/sys/fs/selinux/enforce"))

    def _valid(self, name: t.Any, where: str) -> str:
        """A valid name, or fail naming the field."""
        try:
            return validate_name(name, where)
        except McsError as exc:
            self.module.fail_json(msg=str(exc))

    def running_pairs(self) -> set[Pair]:
        """Pairs held by running processes (SELinux on) and by podman's containers."""
        proc = _host_path("/proc") if self.selinux != "disabled" else None
        return labels_in_use(proc_root=proc) | PodmanLabels(self.module).pairs()

    def selinux_note(self) -> str:
        """What the operator should know about SELinux being off."""
        if self.selinux == "disabled":
            return "; SELinux is disabled on this host: the labels are recorded and take effect once it is enabled"
        if self.selinux == "permissive":
            return "; SELinux is permissive on this host: the labels are set but not enforced"
        return ""

    def run(self) -> None:
        """Plan and (unless in check mode) save; then exit."""
        write = not self.module.check_mode
        present = self.names if self.state == "present" else []
        absent = self.names if self.state == "absent" else []
        with self.allocator.locked(write=write):
            self.allocator.load()
            plan = self.allocator.plan(present, absent)
            # Running labels only matter when a new pair is chosen, so a re-run reads neither /proc nor podman.
            if plan.allocated and self.module.params["exclude_running"]:
                plan = self.allocator.plan(present, absent, self.running_pairs())
            if plan.changed and write:
                self.allocator.save(plan.after)
        for name, reason in plan.moved.items():
            self.module.warn(f"{name}: its label changes from {plan.before[name]} to {plan.labels[name]} because "
                             f"{reason}; restart what runs under the old label")
        self.exit(plan)

    def exit(self, plan: Plan) -> t.NoReturn:
        """Exit with the labels, what changed and the diff."""
        if self.state == "present":
            kept = len(plan.labels) - len(plan.allocated)
            summary = f"{len(plan.allocated)} allocated, {kept} kept"
        else:
            summary = f"{len(plan.released)} released, {len(self.names) - len(plan.released)} had no allocation"
        result: dict[str, t.Any] = {
            "changed": plan.changed, "labels": plan.labels, "allocated": plan.allocated, "moved": plan.moved,
            "released": plan.released, "selinux": self.selinux, "msg": summary + self.selinux_note(),
        }
        if self.module.params["name"] is not None and self.state == "present":
            result["label"] = plan.labels[self.names[0]]
        if self.module._diff:
            result["diff"] = plan.diff()
        self.module.exit_json(**result)


def main() -> None:
    """Allocate or release MCS labels."""
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str"},
            "names": {"type": "list", "elements": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "level": {"type": "str", "default": "s0"},
            "categories": {"type": "dict", "apply_defaults": True, "options": {
                "min": {"type": "int", "default": 0},
                "max": {"type": "int", "default": 1023},
            }},
            "static": {"type": "dict", "default": {}},
            "state_path": {"type": "path", "default": "/var/lib/containerhost/mcs/allocations.json"},
            "exclude_running": {"type": "bool", "default": True},
        },
        mutually_exclusive=[("name", "names")],
        required_one_of=[("name", "names")],
        supports_check_mode=True,
    )
    manager = McsLabelManager(module)
    try:
        manager.run()
    except McsError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"state_path: could not write {exc.filename or module.params['state_path']}: "
                             f"{exc.strerror or exc}")


if __name__ == "__main__":
    main()
