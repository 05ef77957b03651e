# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_info
short_description: Gather container host facts (systemd, cgroups, SELinux, engines, CPUs, hugepages, storage)
version_added: 0.1.0
description:
  - Reads what a container host needs to know about itself, without changing anything.
  - Returns the facts under RV(host_info); they are not set as C(ansible_facts). Register the result to use them.
  - Reads C(/proc), C(/sys) and C(/etc/selinux/config) directly, so no Python bindings (libselinux, systemd) are needed.
  - Runs C(<tool> --version) for each container engine and OCI runtime found, and
    C(systemctl --version) and C(systemctl is-system-running) for systemd. A missing tool is reported, never an error.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  gather_subset:
    description:
      - Which groups of facts to gather. V(all) gathers every group.
      - Only the gathered groups appear in RV(host_info).
    type: list
    elements: str
    choices: [all, systemd, cgroup, selinux, engines, cpu, hugepages, kernel, storage, memory]
    default: [all]
  storage_paths:
    description:
      - Absolute paths whose filesystem size and free space are reported, in this order (duplicates are dropped).
        A relative path fails the task.
      - A path that does not exist is measured at its nearest existing parent directory, reported as RV(host_info.storage[].measured_at).
    type: list
    elements: path
    default: [/var/lib/containers, /var/lib/docker, /]
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._attributes.INFO_MODULE
attributes:
  platform:
    support: full
    platforms: posix
    details: Linux only; it reads C(/proc) and C(/sys).
notes:
  - The cgroup mode comes from C(/proc/self/mountinfo), so inside a container it describes what the container sees.
  - Gathering V(engines) runs each tool once with C(--version), which does not need a running daemon.
seealso:
  - module: ansible.builtin.setup
"""

EXAMPLES = r"""
- name: Gather every container host fact
  containerhost.platform.host_info:
  register: host

- name: Stop early on hosts that are not on the unified cgroup hierarchy
  ansible.builtin.assert:
    that: host.host_info.cgroup.mode == 'v2'
    fail_msg: "{{ inventory_hostname }} uses cgroup {{ host.host_info.cgroup.mode }}"

- name: Only the cgroup and storage facts, for the image store
  containerhost.platform.host_info:
    gather_subset: [cgroup, storage]
    storage_paths:
      - /var/lib/containers/storage
  register: host

- name: Show which OCI runtimes are installed
  ansible.builtin.debug:
    msg: "{{ host.host_info.engines | dict2items | selectattr('value.kind', 'eq', 'runtime') | selectattr('value.present') | map(attribute='key') }}"
"""

RETURN = r"""
host_info:
  description: The gathered facts, one key per gathered group of O(gather_subset).
  returned: always
  type: dict
  contains:
    systemd:
      description: The service manager.
      returned: when O(gather_subset) includes V(systemd) or V(all)
      type: dict
      contains:
        booted:
          description: Whether systemd is the running init (C(/run/systemd/system) exists).
          type: bool
          sample: true
        version:
          description: Major systemd version from C(systemctl --version); null without C(systemctl).
          type: int
          sample: 252
        version_full:
          description: Full version as packaged, from C(systemctl --version).
          type: str
          sample: 252.39-1~deb12u1
        features:
          description: Compile-time feature string from C(systemctl --version).
          type: str
          sample: +PAM +AUDIT +SELINUX -GNUTLS +OPENSSL default-hierarchy=unified
        state:
          description:
            - Output of C(systemctl is-system-running), whatever its exit status.
            - For example V(running), V(degraded), V(starting), or V(offline) when systemd is not PID 1.
            - Null without C(systemctl) or when it prints nothing.
          type: str
          sample: running
    cgroup:
      description: The control group hierarchy.
      returned: when O(gather_subset) includes V(cgroup) or V(all)
      type: dict
      contains:
        mode:
          description:
            - V(v2) when cgroup2 is mounted on C(/sys/fs/cgroup); V(hybrid) when cgroup v1 hierarchies and a
              cgroup2 mount (usually C(/sys/fs/cgroup/unified)) coexist; V(v1) with v1 hierarchies only.
            - V(none) when no cgroup filesystem is mounted.
          type: str
          choices: [v1, hybrid, v2, none]
          sample: v2
        mountpoint:
          description: Where the cgroup tree is (the cgroup2 mount in V(v2) mode, the parent of the v1 hierarchies otherwise).
          type: str
          sample: /sys/fs/cgroup
        unified_mountpoint:
          description: Where cgroup2 is mounted; null in V(v1) mode.
          type: str
          sample: /sys/fs/cgroup/unified
        controllers:
          description:
            - Controllers that can be used, sorted.
            - In V(v2) mode, from C(cgroup.controllers) at the root of the cgroup2 mount.
            - Otherwise the controllers C(/proc/cgroups) marks as enabled that are mounted as a v1 hierarchy.
          type: list
          elements: str
          sample: [cpu, cpuset, io, memory, pids]
        v1_hierarchies:
          description:
            - Mounted v1 hierarchies, as enabled controller or C(name=) hierarchy to its mount point.
            - Empty in V(v2) mode.
          type: dict
          sample: {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd"}
    selinux:
      description: SELinux state, read from C(/sys/fs/selinux/enforce) and C(/etc/selinux/config).
      returned: when O(gather_subset) includes V(selinux) or V(all)
      type: dict
      contains:
        status:
          description: V(enabled) when the kernel has SELinux active (C(/sys/fs/selinux/enforce) exists).
          type: str
          choices: [enabled, disabled]
          sample: enabled
        mode:
          description: Current mode.
          type: str
          choices: [enforcing, permissive, disabled]
          sample: enforcing
        config_mode:
          description: C(SELINUX=) in C(/etc/selinux/config), the mode for the next boot; null without that file or setting.
          type: str
          sample: enforcing
        policy_type:
          description: C(SELINUXTYPE=) in C(/etc/selinux/config); null without that file or setting.
          type: str
          sample: targeted
    engines:
      description:
        - Container engines, image tools, OCI runtimes and the container monitor, keyed by tool name.
        - Always has the keys V(podman), V(docker), V(buildah), V(skopeo), V(runc), V(crun) and V(conmon).
      returned: when O(gather_subset) includes V(engines) or V(all)
      type: dict
      contains:
        kind:
          description: What the tool is.
          type: str
          choices: [engine, tool, runtime, monitor]
          sample: runtime
        present:
          description: Whether the tool was found on the C(PATH) (or in the C(sbin) directories).
          type: bool
          sample: true
        path:
          description: Full path of the tool; null when absent.
          type: str
          sample: /usr/bin/crun
        version:
          description:
            - Version from C(<tool> --version); null when absent, when the command fails, or when its output
              names another tool (such as a C(docker) shim that runs podman).
          type: str
          sample: 1.8.1
      sample:
        podman: {"kind": "engine", "present": true, "path": "/usr/bin/podman", "version": "4.3.1"}
        docker: {"kind": "engine", "present": false, "path": null, "version": null}
        runc: {"kind": "runtime", "present": true, "path": "/usr/sbin/runc", "version": "1.1.5+ds1"}
    cpu:
      description: Online CPUs and NUMA nodes.
      returned: when O(gather_subset) includes V(cpu) or V(all)
      type: dict
      contains:
        online:
          description: Online CPUs as the kernel lists them (C(/sys/devices/system/cpu/online)).
          type: str
          sample: 0-3,8-11
        online_cpus:
          description: Online CPU numbers, sorted.
          type: list
          elements: int
          sample: [0, 1, 2, 3, 8, 9, 10, 11]
        count:
          description: Number of online CPUs.
          type: int
          sample: 8
        numa_nodes:
          description:
            - NUMA nodes from C(/sys/devices/system/node), sorted by id.
            - Without that directory, one node 0 holding every online CPU and all memory.
          type: list
          elements: dict
          contains:
            id:
              description: Node number.
              type: int
              sample: 0
            cpulist:
              description: The node's CPUs as the kernel lists them.
              type: str
              sample: 0-3
            cpus:
              description: The node's CPU numbers, sorted.
              type: list
              elements: int
              sample: [0, 1, 2, 3]
            memory_total_bytes:
              description: The node's memory in bytes (C(MemTotal)); null when unknown.
              type: int
              sample: 16777216000
    hugepages:
      description: Hugepage pools.
      returned: when O(gather_subset) includes V(hugepages) or V(all)
      type: dict
      contains:
        default_size:
          description: Default hugepage size (C(Hugepagesize) in C(/proc/meminfo)), named like the pools; null without hugepage support.
          type: str
          sample: 2048kB
        pools:
          description:
            - One entry per C(/sys/kernel/mm/hugepages/hugepages-<size>) directory, keyed by size such as V(2048kB), smallest first.
            - Each has C(size_bytes) and the page counts C(total), C(free), C(reserved) and C(surplus)
              (from C(nr_hugepages), C(free_hugepages), C(resv_hugepages), C(surplus_hugepages); null if unreadable).
          type: dict
          sample: {"2048kB": {"size_bytes": 2097152, "total": 512, "free": 500, "reserved": 0, "surplus": 0}}
    kernel:
      description: The running kernel.
      returned: when O(gather_subset) includes V(kernel) or V(all)
      type: dict
      contains:
        release:
          description: Kernel release, as C(uname -r).
          type: str
          sample: 6.1.0-37-amd64
        version:
          description: Kernel version string, as C(uname -v).
          type: str
          sample: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.140-1 (2025-05-22)"
        cmdline:
          description: Kernel command line (C(/proc/cmdline)).
          type: str
          sample: BOOT_IMAGE=/boot/vmlinuz-6.1.0-37-amd64 root=UUID=0f6c... ro quiet
    storage:
      description: Size and free space of the filesystem holding each path of O(storage_paths), in that order.
      returned: when O(gather_subset) includes V(storage) or V(all)
      type: list
      elements: dict
      contains:
        path:
          description: The requested path, normalised.
          type: str
          sample: /var/lib/containers
        exists:
          description: Whether the path itself exists.
          type: bool
          sample: true
        measured_at:
          description: The path that was measured, the requested one or its nearest existing parent.
          type: str
          sample: /var/lib/containers
        total_bytes:
          description: Size of the filesystem in bytes.
          type: int
          sample: 53687091200
        free_bytes:
          description: Bytes available to unprivileged users (what C(df) shows as Avail).
          type: int
          sample: 21474836480
    memory:
      description: System memory, from C(/proc/meminfo).
      returned: when O(gather_subset) includes V(memory) or V(all)
      type: dict
      contains:
        total_bytes:
          description: Memory usable by the kernel in bytes (C(MemTotal)).
          type: int
          sample: 8221888512
        available_bytes:
          description: Estimate of the memory available to start new work in bytes (C(MemAvailable)); null if the kernel does not report it.
          type: int
          sample: 6442450944
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._host_gather import HostReader

SUBSETS = ("systemd", "cgroup", "selinux", "engines", "cpu", "hugepages", "kernel", "storage", "memory")

# Every host path is read below this prefix; unit tests point it at a fixture tree.
_ROOT = "/"


def main() -> None:
    """Gather the requested facts and return them under host_info."""
    module = AnsibleModule(
        argument_spec={
            "gather_subset": {"type": "list", "elements": "str", "default": ["all"], "choices": ["all", *SUBSETS]},
            "storage_paths": {
                "type": "list",
                "elements": "path",
                "default": ["/var/lib/containers", "/var/lib/docker", "/"],
            },
        },
        supports_check_mode=True,
    )
    relative = [path for path in module.params["storage_paths"] if not path.startswith("/")]
    if relative:
        module.fail_json(msg=f"storage_paths: every path must be absolute (start with /); got {', '.join(relative)}")
    # Fixed, parseable command output whatever the host's locale.
    module.run_command_environ_update = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

    wanted = set(module.params["gather_subset"])
    subsets = SUBSETS if "all" in wanted else [name for name in SUBSETS if name in wanted]
    reader = HostReader(module, _ROOT)
    host_info = {}
    for name in subsets:
        try:
            host_info[name] = reader.gather(name, module.params["storage_paths"])
        except ValueError as exc:
            # Only a malformed kernel file gets here: name the group instead of showing a traceback.
            module.fail_json(msg=f"could not gather the {name} facts: {exc}")
    module.exit_json(changed=False, host_info=host_info)


if __name__ == "__main__":
    main()
