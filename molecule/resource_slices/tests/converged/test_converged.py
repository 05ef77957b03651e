"""The converged resource_slices scenario, checked against what systemd shows and (on the VM) the kernel's files."""

from __future__ import annotations

import json
import os

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = AnsibleRunner(INVENTORY)
ALL_HOSTS = RUNNER.get_hosts("all")
CONTAINER_HOSTS = RUNNER.get_hosts("testbed_containers")
VM_HOSTS = RUNNER.get_hosts("testbed_vms")
testinfra_hosts = ALL_HOSTS

RECORD_DIR = "/var/lib/rs-molecule"
FINGERPRINT_SLICE = "# containerhost.platform:slice"
FINGERPRINT_UNIT = "# containerhost.platform:unit_resources"
DROPIN = "50-containerhost-resources.conf"
MIB = 1024 * 1024

# What systemctl show must print for vars/scenario.yml, property kind by property kind. The same on cgroup hybrid
# and v2: systemd shows the configured value; the kernel side is checked on the VM below.
SLICES: dict[str, dict[str, str]] = {
    "tenant.slice": {
        "Description": "Tenants",
        "CPUWeight": "200",
        "MemoryMax": str(1024 * MIB),
        "TasksMax": "4000",
        "IOWeight": "200",
    },
    "tenant-a.slice": {
        "Description": "Tenant A",
        "CPUWeight": "300",
        "StartupCPUWeight": "150",
        "CPUQuotaPerSecUSec": "1.500000s",
        "CPUQuotaPeriodUSec": "50ms",
        "MemoryMin": str(16 * MIB),
        "MemoryLow": str(32 * MIB),
        "MemoryHigh": str(192 * MIB),
        "MemoryMax": str(256 * MIB),
        "MemorySwapMax": "0",
        "TasksMax": "512",
        "IOWeight": "300",
        "StartupIOWeight": "150",
        "IODeviceWeight": "/dev/vda 400",
        "IOReadBandwidthMax": f"/dev/vda {50 * MIB}",
        "IOWriteBandwidthMax": f"/dev/vda {20 * MIB}",
        "IOReadIOPSMax": "/dev/vda 1000",
        "IOWriteIOPSMax": "/dev/vda 500",
        "AllowedCPUs": "1",
        # systemd 252 prints the Startup* sets as a byte mask: CPUs 0 and 1 -> 0x03, node 0 -> 0x01.
        "StartupAllowedCPUs": "0300000000000000",
        "AllowedMemoryNodes": "0",
        "StartupAllowedMemoryNodes": "0100000000000000",
    },
    "tenant-a-batch.slice": {
        "CPUQuotaPerSecUSec": "500ms",
        "MemoryMax": str(64 * MIB),
        "MemorySwapMax": "0",
        "TasksMax": "64",
    },
    "tenant-b.slice": {
        "CPUWeight": "idle",
        "IOWeight": "50",
    },
}

# Units: the slice each runs in (the cgroup path proves the nesting) and its limits.
UNITS: dict[str, dict[str, str]] = {
    "rs-web.service": {"Slice": "tenant-a.slice", "CPUWeight": "50", "MemoryMax": str(128 * MIB), "TasksMax": "64"},
    "rs-batch.service": {"Slice": "tenant-a-batch.slice"},
    "rs-meter.service": {"Slice": "tenant-b.slice", "CPUQuotaPerSecUSec": "200ms", "IOWeight": "20"},
    "rs-spare.service": {"Slice": "system.slice", "MemoryHigh": str(100 * MIB), "TasksMax": "32"},
}
CGROUP_SUFFIX = {
    "tenant.slice": "/tenant.slice",
    "tenant-a.slice": "/tenant.slice/tenant-a.slice",
    "tenant-a-batch.slice": "/tenant.slice/tenant-a.slice/tenant-a-batch.slice",
    "tenant-b.slice": "/tenant.slice/tenant-b.slice",
    "rs-web.service": "/tenant.slice/tenant-a.slice/rs-web.service",
    "rs-batch.service": "/tenant.slice/tenant-a.slice/tenant-a-batch.slice/rs-batch.service",
    "rs-meter.service": "/tenant.slice/tenant-b.slice/rs-meter.service",
    "rs-spare.service": "/system.slice/rs-spare.service",
}
# Options cgroup v1/hybrid cannot enforce for tenant-a.slice; the module must say so there, and not on v2.
HYBRID_NOT_HONOURED = {"memory_min", "memory_low", "memory_high", "memory_swap_max", "allowed_cpus",
                       "startup_allowed_cpus", "allowed_memory_nodes", "startup_allowed_memory_nodes",
                       "io_read_iops_max", "io_write_iops_max"}


def show(host, unit: str, properties: list[str]) -> dict[str, str]:
    """systemctl show for one unit, as a dict."""
    out = host.check_output(f"systemctl show --property={','.join(properties)} -- {unit}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def vm(name: str):
    """A testinfra host for an inventory name."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def record(host, kind: str) -> dict:
    """The check-mode or first converge record written by converge.yml."""
    return json.loads(host.file(f"{RECORD_DIR}/{kind}.json").content_string)


def meminfo_bytes(host, key: str) -> int:
    """A /proc/meminfo value in bytes."""
    for line in host.file("/proc/meminfo").content_string.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{key} not in /proc/meminfo")


@pytest.mark.parametrize("name", sorted(SLICES))
def test_slice_shows_declared_values(host, name):
    shown = show(host, name, [*SLICES[name], "LoadState", "ControlGroup"])
    assert shown["LoadState"] == "loaded"
    assert shown["ControlGroup"].endswith(CGROUP_SUFFIX[name]), shown["ControlGroup"]
    for prop, value in SLICES[name].items():
        assert shown[prop] == value, f"{name} {prop}"


@pytest.mark.parametrize("name", sorted(SLICES))
def test_slice_unit_file_is_ours(host, name):
    unit = host.file(f"/etc/systemd/system/{name}")
    assert unit.is_file
    assert unit.mode == 0o644 and unit.user == "root"
    assert FINGERPRINT_SLICE in unit.content_string.splitlines()
    assert show(host, name, ["FragmentPath"])["FragmentPath"] == f"/etc/systemd/system/{name}"


def test_percentages_are_scaled_by_systemd(host):
    """tenant-b.slice's MemoryMax=10% and TasksMax=5% become absolute values near those shares of the host."""
    shown = show(host, "tenant-b.slice", ["MemoryMax", "TasksMax"])
    memory = int(shown["MemoryMax"])
    total = meminfo_bytes(host, "MemTotal")
    # systemd scales by its own view of physical memory (page rounded, capped by the container's limit).
    assert 0 < memory <= total // 10 + 4096
    assert memory >= total // 20, (memory, total)
    tasks = int(shown["TasksMax"])
    assert 0 < tasks < 4194304


@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_placed_with_limits(host, name):
    expected = UNITS[name]
    shown = show(host, name, [*expected, "ActiveState", "ControlGroup"])
    assert shown["ActiveState"] == "active"
    assert shown["ControlGroup"].endswith(CGROUP_SUFFIX[name]), shown["ControlGroup"]
    for prop, value in expected.items():
        assert shown[prop] == value, f"{name} {prop}"


@pytest.mark.parametrize("name", ["rs-web.service", "rs-batch.service", "rs-meter.service"])
def test_unit_dropin_is_ours(host, name):
    dropin = host.file(f"/etc/systemd/system/{name}.d/{DROPIN}")
    assert dropin.is_file
    content = dropin.content_string.splitlines()
    assert FINGERPRINT_UNIT in content
    assert f"Slice={UNITS[name]['Slice']}" in content


def test_runtime_change_wrote_no_dropin(host):
    assert not host.file(f"/etc/systemd/system/rs-spare.service.d/{DROPIN}").exists
    assert not host.file("/etc/systemd/system.control/rs-spare.service.d").exists


def test_check_mode_predicted_the_converge(host):
    """check ran before converge on the same host: it predicted exactly the changes converge made."""
    check, converge = record(host, "check"), record(host, "converge")
    assert check.pop("check_mode") is True
    assert converge.pop("check_mode") is False
    assert check == converge
    # The first converge changed everything it declared, so the comparison above is about real changes.
    assert converge["slices"] == dict.fromkeys(SLICES, True)
    assert converge["daemon_reloaded"] is True
    assert set(converge["units"]) == set(UNITS)
    assert all(converge["units"].values())


def test_unenforceable_options_are_reported(host):
    """On cgroup hybrid the module names what the legacy hierarchy cannot enforce; on v2 nothing."""
    converge = record(host, "converge")
    reported = {entry["option"] for entry in converge["not_honoured"]["tenant-a.slice"]}
    if host.backend.host in CONTAINER_HOSTS:
        assert HYBRID_NOT_HONOURED <= reported, reported
    else:
        assert reported == set()


@pytest.mark.parametrize("name", VM_HOSTS)
def test_vm_kernel_files_hold_the_limits(name):
    """cgroup v2: the kernel's own files show the declared limits."""
    host = vm(name)
    expected = {
        "tenant.slice": {"memory.max": str(1024 * MIB), "pids.max": "4000", "cpu.weight": "200"},
        "tenant.slice/tenant-a.slice": {
            "memory.max": str(256 * MIB), "memory.high": str(192 * MIB), "memory.low": str(32 * MIB),
            "memory.min": str(16 * MIB), "memory.swap.max": "0", "cpu.max": "75000 50000", "cpu.weight": "300",
            "cpuset.cpus": "1", "cpuset.mems": "0", "pids.max": "512",
        },
        "tenant.slice/tenant-a.slice/tenant-a-batch.slice": {
            "memory.max": str(64 * MIB), "memory.swap.max": "0", "cpu.max": "50000 100000", "pids.max": "64",
        },
        "tenant.slice/tenant-b.slice": {"cpu.idle": "1"},
        "tenant.slice/tenant-a.slice/rs-web.service": {
            "memory.max": str(128 * MIB), "pids.max": "64", "cpu.weight": "50",
        },
        "system.slice/rs-spare.service": {"memory.high": str(100 * MIB), "pids.max": "32"},
    }
    for cgroup, files in expected.items():
        for filename, value in files.items():
            assert host.file(f"/sys/fs/cgroup/{cgroup}/{filename}").content_string.strip() == value, f"{cgroup}/{filename}"
    # io.weight: the slice's default weight (per-device weights need an IO scheduler with weights, which vda lacks).
    assert host.file("/sys/fs/cgroup/tenant.slice/io.weight").content_string.splitlines()[0] == "default 200"
    assert host.file("/sys/fs/cgroup/tenant.slice/tenant-a.slice/io.weight").content_string.splitlines()[0] == "default 300"
    io_max = host.file("/sys/fs/cgroup/tenant.slice/tenant-a.slice/io.max").content_string.split()
    assert io_max == ["254:0", f"rbps={50 * MIB}", f"wbps={20 * MIB}", "riops=1000", "wiops=500"]


@pytest.mark.parametrize("name", VM_HOSTS)
def test_vm_memory_cap_stops_a_process_that_allocates_past_it(name):
    """A process in tenant-a-batch.slice (memory_max 64M, no swap) that touches 256 MiB is killed; 16 MiB is fine."""
    host = vm(name)
    events = "/sys/fs/cgroup/tenant.slice/tenant-a.slice/tenant-a-batch.slice/memory.events"

    def oom_kills() -> int:
        for line in host.file(events).content_string.splitlines():
            key, value = line.split()
            if key == "oom_kill":
                return int(value)
        raise AssertionError(f"no oom_kill in {events}")

    def allocate(mib: int) -> tuple[int, str]:
        """Exit status and output of a process in the slice that touches mib MiB."""
        # A shell stays around to report the status: ssh itself exits 255 when its command dies of a signal.
        out = host.check_output(
            "systemd-run --quiet --scope --slice=tenant-a-batch.slice -- "
            f"python3 -c \"x = b'a' * ({mib} << 20); print('allocated', len(x))\"; echo \"exit=$?\""
        )
        lines = out.splitlines()
        return int(lines[-1].removeprefix("exit=")), "\n".join(lines[:-1])

    status, output = allocate(16)
    assert (status, output) == (0, f"allocated {16 << 20}")

    before = oom_kills()
    status, output = allocate(256)
    assert status == 137, (status, output)  # 128 + SIGKILL, from the OOM killer
    assert "allocated" not in output
    assert oom_kills() == before + 1
    # The cap held the slice, not the host: the placed service in the same slice keeps running.
    assert host.service("rs-batch.service").is_running
