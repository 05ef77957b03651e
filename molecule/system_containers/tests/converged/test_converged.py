"""The role installed etcd (oci backend) and app: running, read-only roots, in the slice with limits, MCS labels."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from scenario import DIGEST_KEY, HEALTH, LABEL_KEY, PUSHED, allocations, oci_config, unit_properties  # noqa: E402


testinfra_hosts = ["h1"]


def test_etcd_unit_active_enabled_and_healthy(host) -> None:
    """etcd.service runs the container and etcd answers its health endpoint."""
    service = host.service("etcd.service")
    assert service.is_running and service.is_enabled
    assert host.run(HEALTH).rc == 0


def test_etcd_runs_v1_from_a_read_only_root(host) -> None:
    """The running deployment is v1's digest; writing to its root fails, its data bind is writable."""
    assert oci_config(host, "etcd")["annotations"][DIGEST_KEY] == PUSHED["v1"]["digest"]
    assert oci_config(host, "etcd")["root"]["readonly"] is True
    denied = host.run("runc exec etcd /bin/touch /written-into-root")
    assert denied.rc != 0 and "Read-only file system" in denied.stderr + denied.stdout
    assert host.run("runc exec etcd /bin/touch /var/lib/etcd/written-into-bind").rc == 0


def test_etcd_in_the_slice_with_its_limits(host) -> None:
    """The unit is in infra.slice with its limits, and the container's processes are in the unit's cgroup."""
    props = unit_properties(host, "etcd.service", "Slice", "MemoryMax", "TasksMax", "MainPID")
    assert props["Slice"] == "infra.slice"
    assert props["MemoryMax"] == str(256 * 1024 * 1024)
    assert props["TasksMax"] == "128"
    pid = host.check_output("runc state etcd | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"pid\"])'")
    cgroups = host.file(f"/proc/{pid}/cgroup").content_string
    assert "/infra.slice/etcd.service/container" in cgroups


def test_each_container_has_its_own_recorded_mcs_label(host) -> None:
    """config.json carries the label the allocation record holds for it; etcd and app differ."""
    record = allocations(host)
    labels = {name: oci_config(host, name)["annotations"][LABEL_KEY] for name in ("etcd", "app")}
    assert labels == {"etcd": record["etcd"], "app": record["app"]}
    assert labels["etcd"] != labels["app"]
    assert all(label.startswith("s0:c") for label in labels.values())


def test_app_is_ordered_after_etcd_and_needs_it(host) -> None:
    """app.service runs, after and requiring etcd.service."""
    props = unit_properties(host, "app.service", "ActiveState", "After", "Requires")
    assert props["ActiveState"] == "active"
    assert "etcd.service" in props["After"].split()
    assert "etcd.service" in props["Requires"].split()
