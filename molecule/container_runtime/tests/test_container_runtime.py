"""The converged container_runtime scenario: the files on the hosts, what podman reports, and the trust policy."""

from __future__ import annotations

import json
import os

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = AnsibleRunner(INVENTORY).get_hosts("all")

FINGERPRINT = "# containerhost.platform:container_runtime"
TRUST_FINGERPRINT = "containerhost.platform:image_trust"
RECORD_DIR = "/var/lib/cr-molecule"
REGISTRIES_CONF = "/etc/containers/registries.conf.d/50-containerhost-platform.conf"
STORAGE_CONF = "/etc/containers/storage.conf"
POLICY = "/etc/containers/policy.json"
REGISTRIES_D = "/etc/containers/registries.d/containerhost-platform.yaml"
KEY_DIR = "/etc/pki/containers"
TEAM_RING = f"{KEY_DIR}/containerhost-platform-registry.example_5000+team.asc"
STORE = "/srv/cr-molecule-images"
# The fixture keys (tests/unit/plugins/module_utils/fixtures/gpg): A and B as text, the RSA key from a file on the host.
FPR_A = "09DF67A3599447070BC5C7DD30A64EB4C4CC7C53"
FPR_B = "D461729A2461102CA1119DB265EF54D0BD3DA674"
FPR_RSA = "5F2538F089B463B962AB913CC368CB6333B11B45"


def podman_info(host) -> dict:
    """podman info as JSON."""
    return json.loads(host.check_output("podman info --format json"))


def record(host, kind: str) -> dict:
    """The check-mode or first converge record written by converge.yml."""
    return json.loads(host.file(f"{RECORD_DIR}/{kind}.json").content_string)


@pytest.mark.parametrize("path", [REGISTRIES_CONF, STORAGE_CONF, "/etc/containers/certs.d/registry.example:5000/ca.crt"])
def test_files_are_the_roles(host, path):
    config = host.file(path)
    assert config.is_file
    assert (config.mode, config.user, config.group) == (0o644, "root", "root")
    lines = config.content_string.splitlines()
    assert FINGERPRINT in lines
    assert "Ansible managed" in config.content_string


def test_packages_are_installed(host):
    for name in ("podman", "skopeo", "crun", "conmon", "netavark", "aardvark-dns", "gnupg"):
        assert host.package(name).is_installed, name


def test_podman_reads_the_registries(host):
    registries = podman_info(host)["registries"]
    assert registries["search"] == ["registry.example:5000"]
    main = registries["registry.example:5000"]
    assert main["Blocked"] is False and main["Insecure"] is False
    assert main["Location"] == "registry.example:5000"
    assert [(m["Location"], m["Insecure"], m.get("PullFromMirror", "")) for m in main["Mirrors"]] == [
        ("mirror.example:5000/cache", True, ""), ("mirror2.example:5000", False, "digest-only")]
    assert registries["vendor.example/app"]["Location"] == "registry.example:5000/vendor/app"
    assert registries["blocked.example"]["Blocked"] is True
    assert registries["plain.example:5000"]["Insecure"] is True


def test_pull_from_a_blocked_registry_is_refused(host):
    """podman refuses before contacting anything (the name does not even resolve)."""
    result = host.run("podman pull blocked.example/team/app:1")
    assert result.rc != 0
    assert "registry blocked.example is blocked in" in result.stderr, result.stderr


def test_podman_reads_the_storage_settings(host):
    store = podman_info(host)["store"]
    assert store["configFile"] == STORAGE_CONF
    assert store["graphDriverName"] == "overlay"
    assert store["graphRoot"] == "/var/lib/containers/storage"
    assert store["runRoot"] == "/run/containers/storage"
    assert store["graphOptions"] == {"overlay.imagestore": STORE, "overlay.mountopt": "nodev"}
    # podman initialised the empty additional store it was given.
    assert host.file(f"{STORE}/overlay-images").is_directory


def test_ca_files(host):
    ca = host.file("/etc/containers/certs.d/registry.example:5000/ca.crt")
    subject = host.check_output("openssl x509 -noout -subject -in /etc/containers/certs.d/registry.example:5000/ca.crt")
    assert "containerhost molecule test CA" in subject
    assert ca.content_string.rstrip().endswith("-----END CERTIFICATE-----")
    # The role's CA file for a registry no longer declared is gone; another tool's stays.
    assert not host.file("/etc/containers/certs.d/stale.example:5000/ca.crt").exists
    assert host.file("/etc/containers/certs.d/foreign.example:5000/ca.crt").is_file


def test_policy_holds_the_declared_scopes(host):
    policy_file = host.file(POLICY)
    assert (policy_file.mode, policy_file.user, policy_file.group) == (0o644, "root", "root")
    policy = json.loads(policy_file.content_string)
    assert policy["default"] == [{"type": "reject"}]
    assert policy["transports"]["docker"] == {
        "registry.example:5000/team": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": TEAM_RING}],
        "registry.example:5000/scratch": [{"type": "insecureAcceptAnything"}],
        "blocked.example": [{"type": "reject"}],
    }
    for transport in ("containers-storage", "oci-archive"):
        assert policy["transports"][transport] == {"": [{"type": "insecureAcceptAnything"}]}
    assert set(policy["transports"]) == {"docker", "containers-storage", "oci-archive"}


def test_keyring_holds_every_key_of_the_scope(host):
    """gpg on the host reads the keyring: the two keys given as text and the one from the key file."""
    ring = host.file(TEAM_RING)
    assert (ring.mode, ring.user, ring.group) == (0o644, "root", "root")
    assert f"Comment: {TRUST_FINGERPRINT}" in ring.content_string.splitlines()
    shown = host.check_output(f"gpg --batch --show-keys --with-colons {TEAM_RING}")
    primaries = [line.split(":")[9] for line in shown.splitlines()
                 if line.startswith("fpr:") and "pub:" in shown.split(line)[0].splitlines()[-1]]
    assert primaries == [FPR_A, FPR_B, FPR_RSA]


def test_old_keyrings_go_and_other_keys_stay(host):
    assert not host.file(f"{KEY_DIR}/containerhost-platform-stale.example.asc").exists
    assert host.file(f"{KEY_DIR}/vendor.asc").is_file
    assert sorted(host.file(KEY_DIR).listdir()) == ["containerhost-platform-registry.example_5000+team.asc",
                                                    "vendor.asc"]


def test_registries_d_file(host):
    config = host.file(REGISTRIES_D)
    assert (config.mode, config.user) == (0o644, "root")
    assert config.content_string.splitlines()[-5:] == [
        f"# {TRUST_FINGERPRINT}",
        "docker:",
        '  "registry.example:5000/team":',
        '    lookaside: "https://signatures.example/lookaside"',
        '    lookaside-staging: "file:///var/lib/containers/sigstore-staging"',
    ]


def test_podman_applies_the_policy(host):
    """The policy is live, with no network needed: tarball (podman import) is not among the declared local transports."""
    result = host.run("tar -C /etc -cf /tmp/cr-molecule-import.tar hostname && podman import /tmp/cr-molecule-import.tar "
                      "localhost/cr-molecule/refused:1; status=$?; rm -f /tmp/cr-molecule-import.tar; exit $status")
    assert result.rc != 0
    assert "Running image tarball:/tmp/cr-molecule-import.tar is rejected by policy" in result.stderr, result.stderr
    assert host.run("podman image exists localhost/cr-molecule/refused:1").rc == 1


def test_check_mode_predicted_the_converge(host):
    check, converge = record(host, "check"), record(host, "converge")
    assert check.pop("check_mode") is True
    assert converge.pop("check_mode") is False
    assert check == converge
    # The first converge changed everything, so the comparison above is about real changes.
    assert converge["registries_changed"] and converge["storage_changed"] and converge["trust_changed"]
    assert converge["ca_changed"] == [True]
    assert converge["ca_removed"] == ["/etc/containers/certs.d/stale.example:5000/ca.crt"]
    assert converge["trust_removed_files"] == [f"{KEY_DIR}/containerhost-platform-stale.example.asc"]
    assert sorted(converge["trust_changed_files"]) == sorted(
        [POLICY, REGISTRIES_D, TEAM_RING, f"{KEY_DIR}/containerhost-platform-stale.example.asc"])
