# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

from __future__ import annotations


class ModuleDocFragment:
    """Documentation of the resource limit options (module_utils/_resource_control.py LIMIT_OPTIONS).

    Fragments merge only top-level options, and ansible-test accepts only string literals here, so the limits are
    written out once per place a module has them: at the top level (DOCUMENTATION, for scope) and as suboptions of a
    list (SLICES for slice, UNITS for unit_resources). The copies must stay identical apart from indentation and the
    option paths in O(...) references; tests/unit/plugins/doc_fragments/test__resource_limits.py compares them.
    """

    # Limit options at the top level of a module (scope).
    DOCUMENTATION = r"""
options:
  cpu_weight:
    description:
      - CPU time weight relative to sibling units, V(1) to V(10000) (the kernel default is 100), or V(idle) to run
        only when siblings leave the CPU idle.
      - Written as C(CPUWeight=). systemd older than 232 gets C(CPUShares=) (weight x 1024 / 100); on cgroup v1 and
        hybrid hosts systemd itself applies it as C(cpu.shares).
    type: raw
  startup_cpu_weight:
    description:
      - Like O(cpu_weight), but only while the system boots and shuts down (C(StartupCPUWeight=)), V(1) to V(10000).
    type: raw
  cpu_quota:
    description:
      - Maximum CPU time in percent of one CPU, above 0 and above 100 for more than one CPU, such as V(150%), V(150) or
        V(12.5%) (at most two decimals). Written as C(CPUQuota=).
    type: raw
  cpu_quota_period:
    description:
      - Period the quota is measured over, from V(1ms) to V(1s) with its unit, such as V(100ms) (C(CPUQuotaPeriodSec=)).
    type: raw
  memory_min:
    description:
      - Memory protected from reclaim (C(MemoryMin=)), given as bytes as an integer, a size such as V(512M) or V(1G) (K, M, G,
        T are 1024-based), V(infinity), or a percentage of physical memory such as V(10%). cgroup v2 only.
    type: raw
  memory_low:
    description:
      - Memory protected from reclaim unless nothing else can be reclaimed (C(MemoryLow=)); same forms as
        O(memory_min). cgroup v2 only.
    type: raw
  memory_high:
    description:
      - Memory use above which processes are throttled and reclaimed hard (C(MemoryHigh=)); same forms as
        O(memory_min) but above 0. cgroup v2 only.
    type: raw
  memory_max:
    description:
      - Hard memory limit; above it the OOM killer acts inside the unit (C(MemoryMax=)); same forms as
        O(memory_min) but above 0. systemd older than 231 gets C(MemoryLimit=).
    type: raw
  memory_swap_max:
    description:
      - Swap limit (C(MemorySwapMax=)), given as bytes, a size such as V(1G), or V(infinity); V(0) forbids swap. cgroup v2 only.
    type: raw
  tasks_max:
    description:
      - Maximum number of tasks (processes and threads) (C(TasksMax=)), given as a positive integer, V(infinity), or a percentage
        of the system's task limit such as V(10%).
    type: raw
  io_weight:
    description:
      - IO weight relative to sibling units, V(1) to V(10000) (C(IOWeight=)). systemd older than 230 gets
        C(BlockIOWeight=) (weight x 500 / 100, clamped to 10..1000), as systemd applies it on cgroup v1.
    type: raw
  startup_io_weight:
    description:
      - Like O(io_weight), but only while the system boots and shuts down (C(StartupIOWeight=)).
    type: raw
  io_device_weight:
    description:
      - IO weight per block device (C(IODeviceWeight=)), replacing any weights the unit had.
      - The kernel applies a per-device weight only where the device's IO scheduler supports it (BFQ, or the io.cost
        controller); with mq-deadline systemd records it but nothing enforces it.
    type: list
    elements: dict
    suboptions:
      device:
        description: Block device path, such as V(/dev/sda).
        type: str
        required: true
      weight:
        description: Weight for that device, V(1) to V(10000).
        type: raw
        required: true
  io_read_bandwidth_max:
    description:
      - Read bandwidth limit per block device (C(IOReadBandwidthMax=)). systemd older than 230 gets C(BlockIOReadBandwidth=).
    type: list
    elements: dict
    suboptions:
      device:
        description: Block device path, such as V(/dev/sda).
        type: str
        required: true
      limit:
        description: Bytes per second above 0, as an integer or a size such as V(10M) (1024-based).
        type: raw
        required: true
  io_write_bandwidth_max:
    description:
      - Write bandwidth limit per block device (C(IOWriteBandwidthMax=)), with the same entries as
        O(io_read_bandwidth_max).
    type: list
    elements: dict
    suboptions:
      device:
        description: Block device path, such as V(/dev/sda).
        type: str
        required: true
      limit:
        description: Bytes per second above 0, as an integer or a size such as V(10M) (1024-based).
        type: raw
        required: true
  io_read_iops_max:
    description:
      - Read operations per second limit per block device (C(IOReadIOPSMax=)). cgroup v2 only.
    type: list
    elements: dict
    suboptions:
      device:
        description: Block device path, such as V(/dev/sda).
        type: str
        required: true
      limit:
        description: Operations per second, a positive integer.
        type: raw
        required: true
  io_write_iops_max:
    description:
      - Write operations per second limit per block device (C(IOWriteIOPSMax=)). cgroup v2 only.
    type: list
    elements: dict
    suboptions:
      device:
        description: Block device path, such as V(/dev/sda).
        type: str
        required: true
      limit:
        description: Operations per second, a positive integer.
        type: raw
        required: true
  allowed_cpus:
    description:
      - CPUs the processes may run on (C(AllowedCPUs=)), as a list such as V(0-3,6) or a list of CPU numbers.
        Every CPU must be online on the host. cgroup v2 only.
    type: raw
  startup_allowed_cpus:
    description:
      - Like O(allowed_cpus), but only while the system boots and shuts down (C(StartupAllowedCPUs=)).
    type: raw
  allowed_memory_nodes:
    description:
      - NUMA memory nodes the processes may allocate from (C(AllowedMemoryNodes=)), such as V(0) or V([0, 1]).
        Every node must exist on the host. cgroup v2 only.
    type: raw
  startup_allowed_memory_nodes:
    description:
      - Like O(allowed_memory_nodes), but only while the system boots and shuts down
        (C(StartupAllowedMemoryNodes=)).
    type: raw

notes:
  - Limits are validated for every entry before anything on the host changes; a bad value fails the task naming the
    entry, the option and the accepted forms.
  - Options the host cannot enforce (cgroup v2 only settings on a v1 or hybrid host, a controller systemd cannot use,
    a property older systemd does not know) are reported under C(not_honoured); renamed properties under C(translated).
"""

    # The entries of the slice module's O(slices) list: name, state, description and the limits.
    SLICES = r"""
options:
  slices:
    suboptions:
      name:
        description:
          - Slice unit name, such as V(tenant-a.slice); V(.slice) is appended when missing.
          - A dash nests a slice under another, so V(tenant-a.slice) is below V(tenant.slice), which systemd creates
            implicitly when it has no unit file of its own. No leading, trailing or doubled dash; letters, digits and
            V(:_.\\-) only; at most 255 characters.
        type: str
        required: true
      state:
        description:
          - V(present) writes the unit file and makes its limits live; V(absent) removes the unit file (stopping the slice
            first when no process runs in it; with processes in it the task fails and names them).
        type: str
        choices: [present, absent]
        default: present
      description:
        description:
          - C(Description=) of the slice; defaults to a text naming the module.
        type: str
      cpu_weight:
        description:
          - CPU time weight relative to sibling units, V(1) to V(10000) (the kernel default is 100), or V(idle) to run
            only when siblings leave the CPU idle.
          - Written as C(CPUWeight=). systemd older than 232 gets C(CPUShares=) (weight x 1024 / 100); on cgroup v1 and
            hybrid hosts systemd itself applies it as C(cpu.shares).
        type: raw
      startup_cpu_weight:
        description:
          - Like O(slices[].cpu_weight), but only while the system boots and shuts down (C(StartupCPUWeight=)), V(1) to V(10000).
        type: raw
      cpu_quota:
        description:
          - Maximum CPU time in percent of one CPU, above 0 and above 100 for more than one CPU, such as V(150%), V(150) or
            V(12.5%) (at most two decimals). Written as C(CPUQuota=).
        type: raw
      cpu_quota_period:
        description:
          - Period the quota is measured over, from V(1ms) to V(1s) with its unit, such as V(100ms) (C(CPUQuotaPeriodSec=)).
        type: raw
      memory_min:
        description:
          - Memory protected from reclaim (C(MemoryMin=)), given as bytes as an integer, a size such as V(512M) or V(1G) (K, M, G,
            T are 1024-based), V(infinity), or a percentage of physical memory such as V(10%). cgroup v2 only.
        type: raw
      memory_low:
        description:
          - Memory protected from reclaim unless nothing else can be reclaimed (C(MemoryLow=)); same forms as
            O(slices[].memory_min). cgroup v2 only.
        type: raw
      memory_high:
        description:
          - Memory use above which processes are throttled and reclaimed hard (C(MemoryHigh=)); same forms as
            O(slices[].memory_min) but above 0. cgroup v2 only.
        type: raw
      memory_max:
        description:
          - Hard memory limit; above it the OOM killer acts inside the unit (C(MemoryMax=)); same forms as
            O(slices[].memory_min) but above 0. systemd older than 231 gets C(MemoryLimit=).
        type: raw
      memory_swap_max:
        description:
          - Swap limit (C(MemorySwapMax=)), given as bytes, a size such as V(1G), or V(infinity); V(0) forbids swap. cgroup v2 only.
        type: raw
      tasks_max:
        description:
          - Maximum number of tasks (processes and threads) (C(TasksMax=)), given as a positive integer, V(infinity), or a percentage
            of the system's task limit such as V(10%).
        type: raw
      io_weight:
        description:
          - IO weight relative to sibling units, V(1) to V(10000) (C(IOWeight=)). systemd older than 230 gets
            C(BlockIOWeight=) (weight x 500 / 100, clamped to 10..1000), as systemd applies it on cgroup v1.
        type: raw
      startup_io_weight:
        description:
          - Like O(slices[].io_weight), but only while the system boots and shuts down (C(StartupIOWeight=)).
        type: raw
      io_device_weight:
        description:
          - IO weight per block device (C(IODeviceWeight=)), replacing any weights the unit had.
          - The kernel applies a per-device weight only where the device's IO scheduler supports it (BFQ, or the io.cost
            controller); with mq-deadline systemd records it but nothing enforces it.
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          weight:
            description: Weight for that device, V(1) to V(10000).
            type: raw
            required: true
      io_read_bandwidth_max:
        description:
          - Read bandwidth limit per block device (C(IOReadBandwidthMax=)). systemd older than 230 gets C(BlockIOReadBandwidth=).
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          limit:
            description: Bytes per second above 0, as an integer or a size such as V(10M) (1024-based).
            type: raw
            required: true
      io_write_bandwidth_max:
        description:
          - Write bandwidth limit per block device (C(IOWriteBandwidthMax=)), with the same entries as
            O(slices[].io_read_bandwidth_max).
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          limit:
            description: Bytes per second above 0, as an integer or a size such as V(10M) (1024-based).
            type: raw
            required: true
      io_read_iops_max:
        description:
          - Read operations per second limit per block device (C(IOReadIOPSMax=)). cgroup v2 only.
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          limit:
            description: Operations per second, a positive integer.
            type: raw
            required: true
      io_write_iops_max:
        description:
          - Write operations per second limit per block device (C(IOWriteIOPSMax=)). cgroup v2 only.
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          limit:
            description: Operations per second, a positive integer.
            type: raw
            required: true
      allowed_cpus:
        description:
          - CPUs the processes may run on (C(AllowedCPUs=)), as a list such as V(0-3,6) or a list of CPU numbers.
            Every CPU must be online on the host. cgroup v2 only.
        type: raw
      startup_allowed_cpus:
        description:
          - Like O(slices[].allowed_cpus), but only while the system boots and shuts down (C(StartupAllowedCPUs=)).
        type: raw
      allowed_memory_nodes:
        description:
          - NUMA memory nodes the processes may allocate from (C(AllowedMemoryNodes=)), such as V(0) or V([0, 1]).
            Every node must exist on the host. cgroup v2 only.
        type: raw
      startup_allowed_memory_nodes:
        description:
          - Like O(slices[].allowed_memory_nodes), but only while the system boots and shuts down
            (C(StartupAllowedMemoryNodes=)).
        type: raw

notes:
  - Limits are validated for every entry before anything on the host changes; a bad value fails the task naming the
    entry, the option and the accepted forms.
  - Options the host cannot enforce (cgroup v2 only settings on a v1 or hybrid host, a controller systemd cannot use,
    a property older systemd does not know) are reported under C(not_honoured); renamed properties under C(translated).
"""

    # The entries of the unit_resources module's O(units) list: name, slice, runtime, state and the limits.
    UNITS = r"""
options:
  units:
    suboptions:
      name:
        description: Unit name such as V(nginx.service); V(.service) is appended when there is no suffix.
        type: str
        required: true
      slice:
        description: Slice to run the unit in (C(Slice=)).
        type: str
      runtime:
        description: Change only the running unit (C(systemctl set-property --runtime)), writing no drop-in.
        type: bool
        default: false
      state:
        description: V(present) writes the drop-in, V(absent) removes it.
        type: str
        choices: [present, absent]
        default: present
      cpu_weight:
        description:
          - CPU time weight relative to sibling units, V(1) to V(10000) (the kernel default is 100), or V(idle) to run
            only when siblings leave the CPU idle.
          - Written as C(CPUWeight=). systemd older than 232 gets C(CPUShares=) (weight x 1024 / 100); on cgroup v1 and
            hybrid hosts systemd itself applies it as C(cpu.shares).
        type: raw
      startup_cpu_weight:
        description:
          - Like O(units[].cpu_weight), but only while the system boots and shuts down (C(StartupCPUWeight=)), V(1) to V(10000).
        type: raw
      cpu_quota:
        description:
          - Maximum CPU time in percent of one CPU, above 0 and above 100 for more than one CPU, such as V(150%), V(150) or
            V(12.5%) (at most two decimals). Written as C(CPUQuota=).
        type: raw
      cpu_quota_period:
        description:
          - Period the quota is measured over, from V(1ms) to V(1s) with its unit, such as V(100ms) (C(CPUQuotaPeriodSec=)).
        type: raw
      memory_min:
        description:
          - Memory protected from reclaim (C(MemoryMin=)), given as bytes as an integer, a size such as V(512M) or V(1G) (K, M, G,
            T are 1024-based), V(infinity), or a percentage of physical memory such as V(10%). cgroup v2 only.
        type: raw
      memory_low:
        description:
          - Memory protected from reclaim unless nothing else can be reclaimed (C(MemoryLow=)); same forms as
            O(units[].memory_min). cgroup v2 only.
        type: raw
      memory_high:
        description:
          - Memory use above which processes are throttled and reclaimed hard (C(MemoryHigh=)); same forms as
            O(units[].memory_min) but above 0. cgroup v2 only.
        type: raw
      memory_max:
        description:
          - Hard memory limit; above it the OOM killer acts inside the unit (C(MemoryMax=)); same forms as
            O(units[].memory_min) but above 0. systemd older than 231 gets C(MemoryLimit=).
        type: raw
      memory_swap_max:
        description:
          - Swap limit (C(MemorySwapMax=)), given as bytes, a size such as V(1G), or V(infinity); V(0) forbids swap. cgroup v2 only.
        type: raw
      tasks_max:
        description:
          - Maximum number of tasks (processes and threads) (C(TasksMax=)), given as a positive integer, V(infinity), or a percentage
            of the system's task limit such as V(10%).
        type: raw
      io_weight:
        description:
          - IO weight relative to sibling units, V(1) to V(10000) (C(IOWeight=)). systemd older than 230 gets
            C(BlockIOWeight=) (weight x 500 / 100, clamped to 10..1000), as systemd applies it on cgroup v1.
        type: raw
      startup_io_weight:
        description:
          - Like O(units[].io_weight), but only while the system boots and shuts down (C(StartupIOWeight=)).
        type: raw
      io_device_weight:
        description:
          - IO weight per block device (C(IODeviceWeight=)), replacing any weights the unit had.
          - The kernel applies a per-device weight only where the device's IO scheduler supports it (BFQ, or the io.cost
            controller); with mq-deadline systemd records it but nothing enforces it.
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          weight:
            description: Weight for that device, V(1) to V(10000).
            type: raw
            required: true
      io_read_bandwidth_max:
        description:
          - Read bandwidth limit per block device (C(IOReadBandwidthMax=)). systemd older than 230 gets C(BlockIOReadBandwidth=).
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          limit:
            description: Bytes per second above 0, as an integer or a size such as V(10M) (1024-based).
            type: raw
            required: true
      io_write_bandwidth_max:
        description:
          - Write bandwidth limit per block device (C(IOWriteBandwidthMax=)), with the same entries as
            O(units[].io_read_bandwidth_max).
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          limit:
            description: Bytes per second above 0, as an integer or a size such as V(10M) (1024-based).
            type: raw
            required: true
      io_read_iops_max:
        description:
          - Read operations per second limit per block device (C(IOReadIOPSMax=)). cgroup v2 only.
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          limit:
            description: Operations per second, a positive integer.
            type: raw
            required: true
      io_write_iops_max:
        description:
          - Write operations per second limit per block device (C(IOWriteIOPSMax=)). cgroup v2 only.
        type: list
        elements: dict
        suboptions:
          device:
            description: Block device path, such as V(/dev/sda).
            type: str
            required: true
          limit:
            description: Operations per second, a positive integer.
            type: raw
            required: true
      allowed_cpus:
        description:
          - CPUs the processes may run on (C(AllowedCPUs=)), as a list such as V(0-3,6) or a list of CPU numbers.
            Every CPU must be online on the host. cgroup v2 only.
        type: raw
      startup_allowed_cpus:
        description:
          - Like O(units[].allowed_cpus), but only while the system boots and shuts down (C(StartupAllowedCPUs=)).
        type: raw
      allowed_memory_nodes:
        description:
          - NUMA memory nodes the processes may allocate from (C(AllowedMemoryNodes=)), such as V(0) or V([0, 1]).
            Every node must exist on the host. cgroup v2 only.
        type: raw
      startup_allowed_memory_nodes:
        description:
          - Like O(units[].allowed_memory_nodes), but only while the system boots and shuts down
            (C(StartupAllowedMemoryNodes=)).
        type: raw

notes:
  - Limits are validated for every entry before anything on the host changes; a bad value fails the task naming the
    entry, the option and the accepted forms.
  - Options the host cannot enforce (cgroup v2 only settings on a v1 or hybrid host, a controller systemd cannot use,
    a property older systemd does not know) are reported under C(not_honoured); renamed properties under C(translated).
"""
