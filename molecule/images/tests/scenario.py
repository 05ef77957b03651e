"""Shared by the images scenario's testinfra tests: where the registries are and what prepare pushed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
STATE = Path(os.environ.get("CHTB_STATE") or PROJECT / ".testbed")
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
REGISTRY = yaml.safe_load((STATE / "inventory.yml").read_text(encoding="utf-8"))["all"]["vars"]["testbed_registry"]
REG = REGISTRY["tls_registry"]
AUTH_REG = REGISTRY["auth_registry"]
PUSHED = {entry["reference"]: entry["digest"]
          for entry in json.loads((EPHEMERAL / "pushed.json").read_text(encoding="utf-8"))}
# As in vars/scenario.yml.
SIGSTORE = "/var/lib/containers/sigstore"
RECORD_DIR = "/var/lib/im-molecule"
WRONG_PASSWORD = "im-Wrong-pass-6f1d2c9e"
SIGNER_EMAIL = "signer@example.com"


def skopeo_inspect(reference: str, *options: str) -> str | None:
    """``skopeo inspect`` of ``reference`` (host:port/repository:tag) in the open registry, run on the controller;
    None when the registry does not know the name."""
    done = subprocess.run(
        ["skopeo", "inspect", *options, "--cert-dir", REGISTRY["cert_dir"], f"docker://{reference}"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if "manifest unknown" in done.stderr or "name unknown" in done.stderr:
            return None
        raise AssertionError(f"skopeo inspect {reference}: {done.stderr}")
    return done.stdout


def registry_manifest(reference: str) -> dict | None:
    """The manifest of ``reference`` in the open registry, or None."""
    raw = skopeo_inspect(reference, "--raw")
    return json.loads(raw) if raw is not None else None


def registry_digest(reference: str) -> str | None:
    """The manifest digest of ``reference`` in the open registry, or None."""
    shown = skopeo_inspect(reference)
    return json.loads(shown)["Digest"] if shown is not None else None


def local_image(host, name: str) -> dict | None:
    """podman image inspect of ``name`` on ``host``, or None when it is not there."""
    result = host.run(f"podman image inspect --format json {name}")
    if result.rc != 0:
        return None
    return json.loads(result.stdout)[0]
