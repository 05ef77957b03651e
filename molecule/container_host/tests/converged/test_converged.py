"""container_host.yml converged on six container hosts: the namespaced parts applied, the kernel-level parts reported
as skipped with the reason, three batches, check mode predicting the real run, a no-op re-run."""

from __future__ import annotations

import json
import sys

from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from fleet import (  # noqa: E402
    DEFAULT_RUNS, FINGERPRINT_SYSCTL, HOSTS, SYSCTL_FILE, run_dirs, summary, sysctl_file_value,
)

testinfra_hosts = HOSTS


@pytest.fixture(scope="module", name="runs")
def fixture_runs() -> dict[str, dict]:
    """The summaries of the check run, the converge run and the idempotence run, in that order."""
    dirs = run_dirs(DEFAULT_RUNS)
    assert len(dirs) == 3, dirs
    return dict(zip(("check", "converge", "idempotence"), (summary(path) for path in dirs)))


def test_sysctls_in_the_file_and_live_or_skipped(host, runs) -> None:
    """Every declared key is in the role's file; each is live with the declared value or listed as skipped with
    the reason (which keys a container may write is the sysctl module's call: its namespace rules)."""
    assert host.file(SYSCTL_FILE).contains(f"^{FINGERPRINT_SYSCTL}$")
    skipped = {entry["item"]: entry["reason"] for entry in runs["converge"]["hosts"][host.backend.get_hostname()]["skipped"]}
    for key, value in {"net.core.somaxconn": "4096", "net.ipv4.ip_forward": "1", "vm.max_map_count": "262144"}.items():
        assert sysctl_file_value(host, key) == value, key
        live = host.file(f"/proc/sys/{key.replace('.', '/')}").content_string.strip()
        assert live == value or "container" in skipped[f"sysctl {key}"], key


def test_kernel_level_parts_are_skipped_with_the_reason(host, runs) -> None:
    """Host-wide sysctls, module loading, hugepages and CPU isolation are listed as skipped, with reasons that say
    the host is a container - unless the host's kernel already had the value."""
    name = host.backend.get_hostname()
    skipped = {entry["item"]: entry["reason"] for entry in runs["converge"]["hosts"][name]["skipped"]}
    if host.file("/proc/sys/vm/max_map_count").content_string.strip() != "262144":
        assert skipped["sysctl vm.max_map_count"].startswith("host-wide key in a container (podman)")
    if not host.file("/sys/module/dummy").exists:
        assert "container" in skipped["kernel module dummy"]
    assert "container" in skipped["hugepages"]
    assert skipped["cpu isolation"].startswith("the host runs in a container (podman)")
    # Left alone: nothing of the kernel-level parts was written.
    assert not host.file("/etc/containerhost/hugepages.conf").exists
    assert not host.file("/etc/systemd/system/system.slice.d/50-containerhost-cpu-isolation.conf").exists
    assert not host.file("/etc/systemd/system/workload.slice").exists
    # The module files are written either way (the host's kernel decides at its boot).
    assert host.file("/etc/modules-load.d/containerhost.conf").contains("^dummy$")


def test_engine_slices_and_labels(host) -> None:
    """The engine answers, the tenant slice is loaded, the MCS labels are recorded in the range."""
    assert host.run("podman info --format '{{.Store.GraphDriverName}}'").rc == 0
    assert host.file("/etc/containers/registries.conf.d/50-containerhost-platform.conf").exists
    assert host.service("tenant.slice").systemd_properties["LoadState"] == "loaded"
    allocations = json.loads(host.file("/var/lib/containerhost/mcs/allocations.json").content_string)
    labels = json.dumps(allocations)
    assert "registry-cache" in labels and "metrics" in labels
    assert host.file("/var/lib/containerhost/mcs/allocations.json").mode == 0o600


def test_rollout_ran_in_three_batches_and_changed_every_host(runs) -> None:
    """Three batches of two, every host ok and changed in the converge run; nothing changed in the re-run."""
    converge = runs["converge"]
    assert converge["outcome"] == "completed: every batch ran (3)"
    assert [batch["hosts"] for batch in converge["batches"]] == [["h1", "h2"], ["h3", "h4"], ["h5", "h6"]]
    assert {entry["status"] for entry in converge["hosts"].values()} == {"ok"}
    assert converge["changed"] == ["h1", "h2", "h3", "h4", "h5", "h6"]
    for entry in converge["hosts"].values():
        assert "tuning: /etc/sysctl.d/90-containerhost.conf" in entry["changed"]
        assert "slices: tenant.slice" in entry["changed"]
    idempotence = runs["idempotence"]
    assert idempotence["changed"] == [] and {entry["status"] for entry in idempotence["hosts"].values()} == {"ok"}


def test_check_mode_predicted_the_real_run(runs) -> None:
    """The check run's predicted changes and skipped items are the converge run's, host by host."""
    check, converge = runs["check"], runs["converge"]
    assert check["plan"]["check_mode"] is True and converge["plan"]["check_mode"] is False
    for name, entry in converge["hosts"].items():
        assert check["hosts"][name]["changed"] == entry["changed"], name
        assert check["hosts"][name]["skipped"] == entry["skipped"], name
