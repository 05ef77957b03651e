"""The converged images scenario, checked on the hosts (podman's storage, files) and in the registry."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from scenario import (  # noqa: E402
    AUTH_REG, PUSHED, RECORD_DIR, REG, REGISTRY, SIGNER_EMAIL, SIGSTORE, local_image, registry_digest, registry_manifest)

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("all")


@pytest.mark.parametrize("name", ["chtest/app:1", "chtest/tool:1", "chtest/app:latest"])
def test_pulled_image_is_the_pushed_one(host, name):
    image = local_image(host, f"{REG}/{name}")
    assert image is not None, f"{REG}/{name} is not on the host"
    assert image["Digest"] == PUSHED[f"{REG}/{name}"]


def test_local_tag_names_the_pulled_image(host):
    pulled = local_image(host, f"{REG}/chtest/app:1")
    tagged = local_image(host, "localhost/chtest/app:stable")
    assert tagged is not None and pulled is not None
    assert tagged["Id"] == pulled["Id"]


def test_removed_image_is_gone(host):
    assert local_image(host, f"{REG}/chtest/old:1") is None


def test_pushed_under_the_hosts_name(host):
    manifest = registry_manifest(f"{REG}/pushed/{host.backend.get_hostname()}/tool:1")
    assert manifest is not None, "not in the registry"
    assert manifest["config"]["digest"] == "sha256:" + local_image(host, f"{REG}/chtest/tool:1")["Id"]


def test_signed_push_on_the_build_host(host):
    if host.backend.get_hostname() != "h1":
        assert registry_manifest(f"{REG}/signed/app:1") is not None  # h1 pushed it
        return
    base = local_image(host, f"{REG}/chtest/base:1")
    assert base is not None
    pushed = f"{REG}/signed/app:1"
    manifest = registry_manifest(pushed)
    assert manifest is not None and manifest["config"]["digest"] == "sha256:" + base["Id"]
    digest = registry_digest(pushed)
    # The look-aside layout of containers-registries.d(5): <repository path>@<algo>=<hex>/signature-N.
    signature = f"{SIGSTORE}/signed/app@{digest.replace(':', '=')}/signature-1"
    assert host.file(signature).is_file, signature
    verified = host.run(f"gpg --batch --status-fd 1 --decrypt {signature}")
    assert verified.rc == 0, verified.stderr
    payload = json.loads(verified.stdout[verified.stdout.index("{"):verified.stdout.rindex("}") + 1])
    assert payload["critical"]["identity"]["docker-reference"] == pushed
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    signer = host.check_output(f"gpg --batch --with-colons --list-keys '<{SIGNER_EMAIL}>'")
    fingerprint = next(line.split(":")[9] for line in signer.splitlines() if line.startswith("fpr:"))
    assert f"VALIDSIG {fingerprint}" in verified.stdout


def test_check_mode_predicted_the_first_run(host):
    check = json.loads(host.file(f"{RECORD_DIR}/check.json").content_string)
    converge = json.loads(host.file(f"{RECORD_DIR}/converge.json").content_string)
    assert check["check_mode"] is True and converge["check_mode"] is False
    assert converge["changed"] is True
    # Every entry had something to do on the first run, and check mode said so for each.
    assert all(converge["images"].values()), converge["images"]
    assert check["images"] == converge["images"]


def test_policy_requires_the_signature_for_the_signed_scope(host):
    policy = json.loads(host.file("/etc/containers/policy.json").content_string)
    assert policy["default"] == [{"type": "reject"}]
    docker = policy["transports"]["docker"]
    assert docker[REG] == [{"type": "insecureAcceptAnything"}]
    assert [rule["type"] for rule in docker[f"{REG}/signed"]] == ["signedBy"]


@pytest.mark.parametrize("registry", [REG, AUTH_REG])
def test_registry_ca_is_installed(host, registry):
    ca = host.file(f"/etc/containers/certs.d/{registry}/ca.crt")
    assert ca.is_file
    # The role's file: a managed-file header, then the testbed's CA certificate.
    assert REGISTRY["ca_cert"].strip() in ca.content_string
