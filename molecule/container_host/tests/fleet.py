"""Shared by the container_host scenario's test directories: the inventory and the rollout records on the controller."""

from __future__ import annotations

import json
import os

from pathlib import Path

from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
HOSTS = RUNNER.get_hosts("testbed_containers")
FINGERPRINT_SYSCTL = "# containerhost.platform:sysctl"
SYSCTL_FILE = "/etc/sysctl.d/90-containerhost.conf"
# Where playbooks/container_host.yml keeps its runs by default: next to the inventory.
DEFAULT_RUNS = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".container_host_runs"
# Where rollout.yml keeps the runs of its variants.
ROLLOUT_RUNS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "rollout_runs"


def run_dirs(root: Path) -> list[Path]:
    """The run directories under ``root``, oldest first (their names are UTC timestamps)."""
    return sorted(path for path in root.iterdir() if path.is_dir() and not path.is_symlink())


def summary(run_dir: Path) -> dict:
    """A run's summary.json."""
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def gate_records(run_dir: Path) -> dict:
    """Every host's fitness verdict recorded in a run directory."""
    hosts: dict = {}
    for path in run_dir.glob("gate-*.json"):
        hosts.update(json.loads(path.read_text(encoding="utf-8"))["hosts"])
    return hosts


def sysctl_file_value(host, key: str) -> str | None:
    """The value of ``key`` in the role's sysctl.d file on ``host``, or None."""
    for line in host.file(SYSCTL_FILE).content_string.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return None
