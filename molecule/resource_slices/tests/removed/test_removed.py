"""After removal.yml: no slice unit, no drop-in, no control file left; the services run on in system.slice."""

from __future__ import annotations

import os

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("all")

SLICES = ["tenant.slice", "tenant-a.slice", "tenant-a-batch.slice", "tenant-b.slice"]
SERVICES = ["rs-web.service", "rs-batch.service", "rs-meter.service", "rs-spare.service"]
UNIT_DIRS = ["/etc/systemd/system", "/etc/systemd/system.control", "/run/systemd/system", "/run/systemd/system.control"]


def show(host, unit: str, properties: list[str]) -> dict[str, str]:
    """systemctl show for one unit, as a dict."""
    out = host.check_output(f"systemctl show --property={','.join(properties)} -- {unit}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize("name", SLICES)
def test_slice_is_gone(host, name):
    for directory in UNIT_DIRS:
        assert not host.file(f"{directory}/{name}").exists, f"{directory}/{name}"
        assert not host.file(f"{directory}/{name}.d").exists, f"{directory}/{name}.d"
    # systemd 252 loads any slice name without a file (LoadState=loaded): what matters is that nothing defines it.
    shown = show(host, name, ["ActiveState", "FragmentPath", "DropInPaths", "NeedDaemonReload"])
    assert shown == {"ActiveState": "inactive", "FragmentPath": "", "DropInPaths": "", "NeedDaemonReload": "no"}


# rs-spare.service was only changed at runtime (systemctl set-property --runtime): those changes live in
# /run/systemd/system.control until reboot or `systemctl revert`, by design, and the role writes nothing for it.
RUNTIME_ONLY = {"rs-spare.service"}


@pytest.mark.parametrize("name", SERVICES)
def test_service_has_no_dropin_and_left_its_slice(host, name):
    for directory in UNIT_DIRS:
        if name in RUNTIME_ONLY and directory == "/run/systemd/system.control":
            continue
        assert not host.file(f"{directory}/{name}.d").exists, f"{directory}/{name}.d"
    shown = show(host, name, ["ActiveState", "Slice", "DropInPaths", "NeedDaemonReload"])
    dropins = [path for path in shown.pop("DropInPaths").split() if not path.startswith("/run/systemd/system.control/")]
    assert dropins == []
    assert shown == {"ActiveState": "active", "Slice": "system.slice", "NeedDaemonReload": "no"}


def test_no_generated_file_left(host):
    """Nothing carrying the collection's fingerprint is left in systemd's directories."""
    existing = [directory for directory in UNIT_DIRS if host.file(directory).is_directory]
    assert "/etc/systemd/system" in existing
    found = host.run(f"grep -rlF 'containerhost.platform:' {' '.join(existing)}")
    assert (found.rc, found.stdout) == (1, ""), found.stdout


def test_no_slice_cgroup_left(host):
    """systemd removed the slices' cgroups (checked where the unified hierarchy is mounted at the top)."""
    if host.file("/sys/fs/cgroup/cgroup.controllers").exists:
        assert not host.file("/sys/fs/cgroup/tenant.slice").exists
