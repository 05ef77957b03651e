"""After update, rollback, the failed start and a reboot: v2 runs, both units came up in order, labels kept."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from scenario import DIGEST_KEY, HEALTH, LABEL_KEY, PUSHED, ROOT, allocations, oci_config, unit_properties  # noqa: E402


testinfra_hosts = ["h1"]


def test_etcd_runs_v2_healthy_after_the_reboot(host) -> None:
    """The failed start left v2 current; after the reboot it runs and answers."""
    assert oci_config(host, "etcd")["annotations"][DIGEST_KEY] == PUSHED["v2"]["digest"]
    assert host.service("etcd.service").is_running
    assert host.run(HEALTH).rc == 0


def test_bad_deployment_was_removed(host) -> None:
    """Only good deployments remain: the failed one was removed when the module switched back."""
    deployments = host.check_output(f"ls {ROOT}/etcd/deployments").split()
    bad = PUSHED["bad"]["digest"].split(":")[-1][:12]
    assert deployments and not any(d.startswith(bad) for d in deployments)


def test_units_started_in_order_after_the_reboot(host) -> None:
    """app became active after etcd did, both in this boot."""
    etcd = int(unit_properties(host, "etcd.service", "ActiveEnterTimestampMonotonic")["ActiveEnterTimestampMonotonic"])
    app = int(unit_properties(host, "app.service", "ActiveEnterTimestampMonotonic")["ActiveEnterTimestampMonotonic"])
    assert 0 < etcd < app


def test_labels_stable_across_updates_and_reboot(host) -> None:
    """The labels in the running configs are still the recorded ones, distinct."""
    record = allocations(host)
    assert oci_config(host, "etcd")["annotations"][LABEL_KEY] == record["etcd"]
    assert oci_config(host, "app")["annotations"][LABEL_KEY] == record["app"]
    assert record["etcd"] != record["app"]


def test_mcs_test_left_nothing(host) -> None:
    """The holder container and the test record are gone."""
    assert "mcs-holder" not in host.check_output("podman --cgroup-manager cgroupfs ps --all --format '{{.Names}}'")
    assert not host.file("/root/mcs-test").exists
