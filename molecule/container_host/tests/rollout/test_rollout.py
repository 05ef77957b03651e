"""rollout.yml: h3 unfit. A (max_fail_percentage 50) configured every other host and reached the summary; B
(max_fail_percentage 0) configured batch 1 only and stopped; h3's configuration was never touched."""

from __future__ import annotations

import sys

from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from fleet import HOSTS, ROLLOUT_RUNS, gate_records, run_dirs, summary, sysctl_file_value  # noqa: E402

testinfra_hosts = HOSTS

# The somaxconn each host's sysctl file must hold: the last run that configured it (converge 4096, A 1024, B 2048).
EXPECTED_SOMAXCONN = {"h1": "2048", "h2": "2048", "h3": "4096", "h4": "1024", "h5": "1024", "h6": "1024"}


def test_each_host_has_the_configuration_of_the_last_run_that_reached_it(host) -> None:
    """The role's sysctl file holds the value of the last run that configured the host, and of no other run."""
    name = host.backend.get_hostname()
    assert sysctl_file_value(host, "net.core.somaxconn") == EXPECTED_SOMAXCONN[name]
    # h3 keeps the converge's whole file: neither variant touched it.
    assert (sysctl_file_value(host, "vm.max_map_count") == "262144") == (name == "h3")


@pytest.fixture(scope="module", name="variants")
def fixture_variants() -> dict[str, dict]:
    """The summaries of variant A and variant B (one run each)."""
    found = {}
    for variant in ("a", "b"):
        dirs = run_dirs(ROLLOUT_RUNS / variant)
        assert len(dirs) == 1, dirs
        found[variant] = summary(dirs[0])
    return found


def test_variant_a_went_on_past_the_failed_host(variants) -> None:
    """1 failed of 2 is 50%, not more than 50: every batch ran; h3 failed at the gate with the failed check."""
    a = variants["a"]
    assert a["outcome"] == "completed: every batch ran (3)" and a["stopped_after_batch"] is None
    assert a["failed"] == ["h3"] and a["stopped"] == [] and a["not_reached"] == []
    assert a["batches"][1]["failed_percentage"] == 50.0 and not a["batches"][1]["stopped_rollout"]
    assert a["hosts"]["h3"]["stage"] == "fitness gate"
    assert a["hosts"]["h3"]["detail"].startswith("cpus_min (wanted >= 4096, found ")
    assert a["hosts"]["h3"]["changed"] == []
    assert a["changed"] == ["h1", "h2", "h4", "h5", "h6"]
    assert all("tuning: /etc/sysctl.d/90-containerhost.conf" in a["hosts"][name]["changed"] for name in a["changed"])


def test_variant_b_stopped_after_the_failed_batch(variants) -> None:
    """0%: the batch of h3 stops the rollout; h4 passed the gate but was not configured; h5 and h6 never reached."""
    b = variants["b"]
    assert b["stopped_after_batch"] == 2
    assert b["outcome"].startswith("stopped after batch 2 of 3: more than max_fail_percentage 0")
    assert b["failed"] == ["h3"] and b["stopped"] == ["h4"] and b["not_reached"] == ["h5", "h6"]
    assert b["changed"] == ["h1", "h2"]
    assert b["hosts"]["h4"]["detail"] == "fit, but its batch exceeded max_fail_percentage at the gate: not configured"
    assert [batch["status"] for batch in b["batches"]] == ["ran", "stopped the rollout", "not reached"]


def test_gate_recorded_the_failed_check_before_h3_failed() -> None:
    """The verdict is on the controller for both variants, with the failed item and its fix."""
    for variant in ("a", "b"):
        gate = gate_records(run_dirs(ROLLOUT_RUNS / variant)[0])
        assert gate["h3"]["verdict"] == "unfit"
        assert [check["name"] for check in gate["h3"]["failed"]] == ["cpus_min"]
        assert gate["h3"]["failed"][0]["fix"]
        assert gate["h4"]["verdict"] == "fit"
        assert ("h5" in gate) == (variant == "a")
