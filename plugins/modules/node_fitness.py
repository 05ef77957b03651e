# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_fitness
short_description: Check a container host against declared requirements and give a fit or unfit verdict
version_added: 0.1.0
description:
  - Gathers the facts of M(containerhost.platform.host_info) that the requirements need (the same files, commands
    and parsers), plus time synchronisation, kernel modules, sysctls and per-node hugepages when asked for, and checks
    each requirement.
  - Returns RV(fitness) with the verdict V(fit) or V(unfit), every check with what was wanted and found, and for each
    failed check a concrete C(fix).
  - With O(fail_on_unfit=true) an unfit host fails the task, so the module can gate a rollout
    (with C(serial) and C(max_fail_percentage), or C(any_errors_fatal)).
  - Changes nothing.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  requirements:
    description:
      - What the host must offer. Only the requirements given are checked, in the order below.
      - Every value is validated before anything is read; a bad one fails the task naming the field.
    type: dict
    required: true
    suboptions:
      kernel_min:
        description: Lowest kernel version, compared with the leading numbers of C(uname -r), such as V(5.10).
        type: str
      cgroup_v2:
        description:
          - V(true) requires the unified cgroup hierarchy (cgroup v2); V(false) requires the legacy or hybrid one.
        type: bool
      selinux:
        description:
          - The SELinux mode required now. V(enabled) accepts enforcing and permissive; V(any) only reports the mode.
        type: str
        choices: [enforcing, permissive, enabled, disabled, any]
      hugepages_free:
        description:
          - Free hugepages required per pool; pages reserved by existing mappings do not count as free.
        type: list
        elements: dict
        suboptions:
          size:
            description: Page size with a unit, such as V(2M), V(1G) or V(2048kB).
            type: str
            required: true
          count:
            description: Free pages required.
            type: int
            required: true
          node:
            description: NUMA node whose pool is checked; omit it for the whole system.
            type: int
      numa_nodes_min:
        description: Fewest NUMA nodes.
        type: int
      cpus_min:
        description: Fewest online CPUs.
        type: int
      memory_min_mb:
        description: Least memory (C(MemTotal)), in MiB.
        type: int
      engines:
        description:
          - Tools that must be installed, each a name with an optional version constraint, such as V(podman>=4.0),
            V(crun) or V(runc>=1.1).
          - Names are those M(containerhost.platform.host_info) reports; podman, docker, buildah, skopeo, runc, crun
            and conmon. Operators are C(>=), C(>), C(<=), C(<), C(==) and C(!=).
        type: list
        elements: str
      disk_free:
        description: Free space required on the filesystems holding these paths.
        type: list
        elements: dict
        suboptions:
          path:
            description: Absolute path; a path that does not exist yet is measured at its nearest existing parent.
            type: path
            default: /var/lib/containers
          min_gb:
            description: Free space required, in GiB (what C(df) shows as available).
            type: float
            required: true
      time_synced:
        description:
          - V(true) requires a synchronised clock, according to C(timedatectl), systemd-timesyncd's
            C(/run/systemd/timesync/synchronized), C(chronyc tracking) or C(ntpq -p); any of them saying so is enough.
          - V(false) skips the check.
        type: bool
      kernel_modules:
        description: Kernel modules that must be loaded or built into the kernel, such as V(overlay) or V(br_netfilter).
        type: list
        elements: str
      sysctls:
        description:
          - Kernel parameters and the values they must have, compared as the kernel prints them (blanks between
            numbers normalised; V(true) and V(false) as 1 and 0; a list as its items separated by blanks).
        type: dict
  fail_on_unfit:
    description: Fail the task when the verdict is V(unfit), with the same return values.
    type: bool
    default: false
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._attributes.INFO_MODULE
attributes:
  platform:
    support: full
    platforms: posix
    details: Linux only; it reads C(/proc) and C(/sys).
notes:
  - In a container the kernel, cgroups, SELinux, hugepages, kernel modules and the clock are the host's; the fixes
    for them say so and address the host.
seealso:
  - module: containerhost.platform.host_info
  - module: containerhost.platform.hugepages
"""

EXAMPLES = r"""
- name: Gate the rollout on hosts that can run the latency-sensitive workload
  containerhost.platform.node_fitness:
    requirements:
      kernel_min: "5.10"
      cgroup_v2: true
      selinux: enforcing
      hugepages_free:
        - size: 2M
          count: 512
        - size: 1G
          count: 2
          node: 0
      numa_nodes_min: 1
      cpus_min: 4
      memory_min_mb: 8192
      engines:
        - podman>=4.0
        - crun
      disk_free:
        - min_gb: 20
      time_synced: true
      kernel_modules: [overlay, br_netfilter]
      sysctls:
        net.ipv4.ip_forward: 1
    fail_on_unfit: true

- name: Only report, then list what to fix
  containerhost.platform.node_fitness:
    requirements:
      cgroup_v2: true
      engines: [podman]
  register: fitness

- name: Show the fixes
  ansible.builtin.debug:
    msg: "{{ fitness.fitness.checks | rejectattr('ok') | map(attribute='fix') }}"
  when: fitness.fitness.verdict == 'unfit'
"""

RETURN = r"""
fitness:
  description: The verdict and every check.
  returned: always
  type: dict
  contains:
    verdict:
      description: V(fit) when every check passed.
      type: str
      choices: [fit, unfit]
      sample: unfit
    checks:
      description: One entry per checked requirement (one per item of the list and dict requirements), in order.
      type: list
      elements: dict
      contains:
        name:
          description:
            - The requirement, with the item in brackets for list and dict requirements, such as
              V(engines[podman>=4.0]), V(disk_free[/var/lib/containers]) or V(hugepages_free[2048kB node 0]).
          type: str
          sample: cgroup_v2
        ok:
          description: Whether the host meets it.
          type: bool
          sample: false
        wanted:
          description: What was required.
          type: raw
          sample: v2
        actual:
          description: What the host has (null when it could not be found).
          type: raw
          sample: hybrid
        fix:
          description: What to do to meet the requirement; null for a passed check.
          type: str
          sample: boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line (...) and reboot
    failed:
      description: The names of the failed checks.
      type: list
      elements: str
      sample: [cgroup_v2, "engines[podman>=4.0]"]
facts:
  description:
    - The facts the checks used. The groups of M(containerhost.platform.host_info) (as it returns them) that the
      requirements need, plus C(container) always and the extra groups below when asked for.
  returned: always
  type: dict
  contains:
    container:
      description: The container manager this host runs in (such as V(podman)), or null on a machine or VM.
      type: str
      sample: podman
    hugepages_nodes:
      description: Per NUMA node, C(id) and C(pools), counted like the system-wide pools of M(containerhost.platform.host_info); C(reserved) is always null.
      returned: when O(requirements.hugepages_free) has a node
      type: list
      elements: dict
      sample: [{"id": 0, "pools": {"2048kB": {"size_bytes": 2097152, "total": 512, "free": 512, "reserved": null, "surplus": 0}}}]
    time_sync:
      description: C(synced) (null when no source answered), the C(source) it came from, and every source's C(evidence).
      returned: when O(requirements.time_synced=true)
      type: dict
      sample: {"synced": true, "source": "timedatectl", "evidence": [{"source": "timedatectl", "synced": true}]}
    kernel_modules:
      description: Each required module with V(loaded), V(built-in) or null.
      returned: when O(requirements.kernel_modules) is given
      type: dict
      sample: {"overlay": "loaded", "br_netfilter": null}
    sysctls:
      description: Each required sysctl's value as the kernel prints it (blanks normalised); null when it does not exist.
      returned: when O(requirements.sysctls) is given
      type: dict
      sample: {"net.ipv4.ip_forward": "1"}
msg:
  description: The verdict in one line.
  returned: always
  type: str
  sample: "unfit: 2 of 9 checks failed: cgroup_v2, engines[podman>=4.0]"
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._fitness import (
    FitnessError,
    evaluate,
    module_name,
    module_state,
    needed_subsets,
    parse_chrony_tracking,
    parse_modules_builtin,
    parse_ntpq_peers,
    parse_proc_modules,
    parse_timedatectl,
    summary,
    sysctl_path,
    time_sync_facts,
    validate_requirements,
)
from ansible_collections.containerhost.platform.plugins.module_utils._host_facts import hugepage_size_name
from ansible_collections.containerhost.platform.plugins.module_utils._host_gather import HostReader
from ansible_collections.containerhost.platform.plugins.module_utils._hugepages import HostHugepages

# Every host path is read below this prefix; unit tests point it at a fixture tree.
_ROOT = "/"


# ---- the extra facts

def gather_hugepages_nodes(host: HostHugepages) -> list[dict]:
    """Every NUMA node's pools, counted like the system-wide ones."""
    nodes = []
    for node, sizes in host.node_sizes().items():
        pools = {}
        for size in sizes:
            name = hugepage_size_name(size * 1024)
            pools[name] = {"size_bytes": size * 1024, **host.read_pool(size, node)}
        nodes.append({"id": node, "pools": pools})
    return nodes


def gather_time_sync(reader: HostReader) -> dict:
    """What each available time source says about the clock."""
    module = reader.module
    evidence = []
    timedatectl = module.get_bin_path("timedatectl")
    if timedatectl:
        rc, out, dummy_err = module.run_command([timedatectl, "show", "-p", "NTPSynchronized"])
        # Without timedated on the bus (in many containers) it fails: that source has no answer.
        evidence.append({"source": "timedatectl", "synced": parse_timedatectl(out) if rc == 0 else None})
    if os.path.exists(reader.path("/run/systemd/timesync/synchronized")):
        evidence.append({"source": "systemd-timesyncd", "synced": True})
    chronyc = module.get_bin_path("chronyc")
    if chronyc:
        rc, out, dummy_err = module.run_command([chronyc, "-n", "tracking"])
        evidence.append({"source": "chrony", "synced": parse_chrony_tracking(out) if rc == 0 else None})
    ntpq = module.get_bin_path("ntpq")
    if ntpq:
        rc, out, dummy_err = module.run_command([ntpq, "-pn"])
        evidence.append({"source": "ntpd", "synced": parse_ntpq_peers(out) if rc == 0 else None})
    return time_sync_facts(evidence)


def gather_kernel_modules(reader: HostReader, names: list[str], release: str) -> dict:
    """Each module: loaded (/proc/modules), built-in (modules.builtin, /sys/module) or None."""
    loaded = parse_proc_modules(reader.read("/proc/modules"))
    builtin = parse_modules_builtin(reader.read(f"/lib/modules/{release}/modules.builtin"))
    return {name: module_state(name, loaded, builtin, os.path.isdir(reader.path(f"/sys/module/{module_name(name)}")))
            for name in names}


def gather_sysctls(reader: HostReader, keys: list[str]) -> dict:
    """Each sysctl's value with blanks normalised, or None when it does not exist."""
    values = {}
    for key in keys:
        text = reader.read(sysctl_path(key))
        values[key] = None if text is None else " ".join(text.split())
    return values


def gather_facts(module: AnsibleModule, requirements: dict[str, t.Any]) -> dict[str, t.Any]:
    """The fact set the requirements need."""
    reader = HostReader(module, _ROOT)
    paths = [disk["path"] for disk in requirements.get("disk_free", [])]
    facts: dict[str, t.Any] = {subset: reader.gather(subset, paths) for subset in needed_subsets(requirements)}
    host = HostHugepages(_ROOT)
    facts["container"] = host.container()
    if any(pool["node"] is not None for pool in requirements.get("hugepages_free", [])):
        facts["hugepages_nodes"] = gather_hugepages_nodes(host)
    if requirements.get("time_synced"):
        facts["time_sync"] = gather_time_sync(reader)
    if "kernel_modules" in requirements:
        facts["kernel_modules"] = gather_kernel_modules(reader, requirements["kernel_modules"], facts["kernel"]["release"])
    if "sysctls" in requirements:
        facts["sysctls"] = gather_sysctls(reader, list(requirements["sysctls"]))
    return facts


def main() -> None:
    """Gather the facts the requirements need and give the verdict."""
    module = AnsibleModule(
        argument_spec={
            "requirements": {
                "type": "dict",
                "required": True,
                "options": {
                    "kernel_min": {"type": "str"},
                    "cgroup_v2": {"type": "bool"},
                    "selinux": {"type": "str", "choices": ["enforcing", "permissive", "enabled", "disabled", "any"]},
                    "hugepages_free": {
                        "type": "list",
                        "elements": "dict",
                        "options": {
                            "size": {"type": "str", "required": True},
                            "count": {"type": "int", "required": True},
                            "node": {"type": "int"},
                        },
                    },
                    "numa_nodes_min": {"type": "int"},
                    "cpus_min": {"type": "int"},
                    "memory_min_mb": {"type": "int"},
                    "engines": {"type": "list", "elements": "str"},
                    "disk_free": {
                        "type": "list",
                        "elements": "dict",
                        "options": {
                            "path": {"type": "path", "default": "/var/lib/containers"},
                            "min_gb": {"type": "float", "required": True},
                        },
                    },
                    "time_synced": {"type": "bool"},
                    "kernel_modules": {"type": "list", "elements": "str"},
                    "sysctls": {"type": "dict"},
                },
            },
            "fail_on_unfit": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        requirements = validate_requirements(module.params["requirements"])
    except FitnessError as exc:
        module.fail_json(msg=str(exc))
    # Fixed, parseable command output whatever the host's locale.
    module.run_command_environ_update = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}
    try:
        facts = gather_facts(module, requirements)
    except ValueError as exc:
        # Only a malformed kernel file gets here: say so instead of showing a traceback.
        module.fail_json(msg=f"could not gather the facts: {exc}")
    fitness = evaluate(requirements, facts)
    result = {"changed": False, "fitness": fitness, "facts": facts, "msg": summary(fitness)}
    if module.params["fail_on_unfit"] and fitness["verdict"] == "unfit":
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
