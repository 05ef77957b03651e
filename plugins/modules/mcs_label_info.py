# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mcs_label_info
short_description: List the SELinux MCS labels allocated on a host
version_added: 0.1.0
description:
  - Reads the allocations M(containerhost.platform.mcs_label) recorded in O(state_path) and returns them, all of
    them or those of the names given. Takes a shared lock while reading and changes nothing, not even the lock
    file.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  names:
    description:
      - Names to report. All allocations when empty.
      - A name without an allocation is left out of RV(allocations).
    type: list
    elements: str
    default: []
  state_path:
    description: The allocation record, as in M(containerhost.platform.mcs_label).
    type: path
    default: /var/lib/containerhost/mcs/allocations.json
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._attributes.INFO_MODULE
attributes:
  platform:
    support: full
    platforms: posix
    details: Linux. SELinux may be enforcing, permissive or disabled.
seealso:
  - module: containerhost.platform.mcs_label
"""

EXAMPLES = r"""
- name: Read every allocation on the host
  containerhost.platform.mcs_label_info:
  register: mcs

- name: Show the label of etcd
  ansible.builtin.debug:
    msg: "{{ mcs.allocations.etcd | default('none') }}"
"""

RETURN = r"""
allocations:
  description: Name to label, sorted by name.
  returned: always
  type: dict
  sample: {"etcd": "s0:c117,c902", "legacy-db": "s0:c5,c6"}
missing:
  description: Names asked for that have no allocation.
  returned: always
  type: list
  elements: str
  sample: [registry-cache]
selinux:
  description: The host's SELinux mode. With V(disabled), the labels are recorded but not in effect.
  returned: always
  type: str
  choices: [disabled, permissive, enforcing]
  sample: enforcing
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._mcs import (
    McsAllocator,
    McsError,
    selinux_state,
    validate_name,
)

# Tests point this at a fake /sys.
_ROOT = "/"


def main() -> None:
    """Report the recorded allocations."""
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "default": []},
            "state_path": {"type": "path", "default": "/var/lib/containerhost/mcs/allocations.json"},
        },
        supports_check_mode=True,
    )
    allocator = McsAllocator(module.params["state_path"])
    try:
        names = [validate_name(name, f"names[{index}]") for index, name in enumerate(module.params["names"])]
        with allocator.locked(write=False):
            allocations = dict(sorted(allocator.load().items()))
    except McsError as exc:
        module.fail_json(msg=str(exc))
    if names:
        missing = [name for name in dict.fromkeys(names) if name not in allocations]
        allocations = {name: label for name, label in allocations.items() if name in names}
    else:
        missing = []
    module.exit_json(changed=False, allocations=allocations, missing=missing,
                     selinux=selinux_state(os.path.join(_ROOT, "sys/fs/selinux/enforce")))


if __name__ == "__main__":
    main()
