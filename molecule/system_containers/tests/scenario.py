"""Shared by the system_containers scenario's test directories."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = "/var/lib/containerhost/system-containers"
ALLOCATIONS = "/var/lib/containerhost/mcs/allocations.json"
LABEL_KEY = "io.containerhost.system-container.mcs-label"
DIGEST_KEY = "io.containerhost.system-container.digest"
PUSHED = json.loads((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "pushed.json").read_text(encoding="utf-8"))
HEALTH = "etcdctl --endpoints=http://127.0.0.1:2379 --dial-timeout=3s --command-timeout=5s endpoint health"


def oci_config(host, name: str) -> dict:
    """The config.json of the container's current deployment."""
    return json.loads(host.file(f"{ROOT}/{name}/current/config.json").content_string)


def allocations(host) -> dict[str, str]:
    """The MCS allocation record."""
    return json.loads(host.file(ALLOCATIONS).content_string)["allocations"]


def unit_properties(host, unit: str, *names: str) -> dict[str, str]:
    """systemctl show of the unit's properties."""
    out = host.check_output(f"systemctl show --property={','.join(names)} {unit}")
    return dict(line.split("=", 1) for line in out.splitlines())
