# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the podman runner: argv, inspect parsing (real output) and failure classification (real messages)."""

from __future__ import annotations

import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _podman as pm
from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import parse_reference

FIXTURES = Path(__file__).parent / "fixtures" / "images"
V1_ID = "8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61"


class FakeModule:
    """Records run_command calls and answers from a queue; an answer may be a function of the argv."""

    def __init__(self, answers: list[t.Any] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.environ: list[dict[str, str]] = []
        self.answers = list(answers or [])

    def get_bin_path(self, name: str, required: bool = False) -> str:
        return f"/usr/bin/{name}"

    def run_command(self, argv: t.Any, environ_update: dict | None = None, **kwargs: t.Any) -> tuple[int, str, str]:
        assert isinstance(argv, list)
        self.calls.append(argv)
        self.environ.append(environ_update or {})
        answer = self.answers.pop(0) if self.answers else (0, "", "")
        return answer(argv) if callable(answer) else answer


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_parse_inspect_partial_real_output():
    images = pm.parse_inspect(fixture("podman-inspect-partial.json"))
    assert [image["RepoTags"][-1] for image in images] == ["localhost/bb:v1", "localhost/bb:v2"]
    assert fixture("podman-inspect-partial.rc").strip() == "rc=125"
    # podman prints the missing names in its own order (the last one with "Error:").
    assert sorted(pm.missing_names(fixture("podman-inspect-partial.stderr"))) == ["127.0.0.1:5612/gone:2",
                                                                                  "127.0.0.1:5612/missing:1"]


def test_parse_inspect_refuses_non_lists():
    assert pm.parse_inspect("") == []
    with pytest.raises(ValueError):
        pm.parse_inspect('{"Id": "x"}')


def test_normalise_rich_image():
    image = pm.parse_inspect(fixture("podman-inspect-rich.json"))[0]
    data = pm.normalise_image(image)
    assert data["entrypoint"] == ["/bin/sh", "-c"]
    assert data["cmd"] == ["echo hello"]
    assert "APP_MODE=test" in data["env"]
    assert data["exposed_ports"] == ["53/udp", "8080/tcp"]
    assert data["working_dir"] == "/srv"
    assert data["user"] == "1000"
    assert data["labels"] == {"org.opencontainers.image.title": "busybox-test"}
    assert data["layers"] and all(layer.startswith("sha256:") for layer in data["layers"])
    assert data["history"][0]["created_by"].startswith("/bin/sh -c #(nop) ADD file:")
    assert data["architecture"] == "amd64" and data["os"] == "linux" and data["size"] > 0


def test_match_inspected_by_tag_digest_and_id():
    images = pm.parse_inspect(fixture("podman-inspect-pulled-list.json"))
    refs = [parse_reference("127.0.0.1:5612/bb-list:1"),
            parse_reference("127.0.0.1:5612/bb@sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc"),
            parse_reference("127.0.0.1:5612/other@sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc"),
            parse_reference("127.0.0.1:5612/bb-list:2"),
            V1_ID[:12]]
    found = pm.match_inspected(refs, images)
    assert [None if value is None else value["Id"] for value in found.values()] == [V1_ID, V1_ID, None, None, V1_ID]
    digests = pm.image_digests(images[0])
    # A pulled manifest list: the list digest, the platform instance and the image's own digest.
    assert {"sha256:90f0aeb3c50b5e5fd044967eb63ed61c57f71e1fad717ccd34aa0186712622cb",
            "sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc"} <= digests


@pytest.mark.parametrize("name, kind, words", [
    ("skopeo-auth-wrong", "auth", "authentication failed: reading manifest 1 in 127.0.0.1:5611/bb: unauthorized"),
    ("podman-pull-auth-wrong", "auth", "authentication failed"),
    ("podman-push-auth-wrong", "auth", "authentication failed"),
    ("skopeo-tls", "tls", "TLS verification failed: pinging container registry 127.0.0.1:5612"),
    ("podman-pull-tls", "tls", "x509: certificate signed by unknown authority"),
    ("skopeo-manifest-unknown", "not_found", "not found: reading manifest nope"),
    ("podman-pull-manifest-unknown", "not_found", "manifest unknown"),
    ("skopeo-conn-refused", "unreachable", "registry unreachable"),
    ("podman-pull-conn", "unreachable", "connect: connection refused"),
    ("podman-pull-policy-reject", "policy", "refused by the signature policy: Source image rejected: Running image"),
    ("podman-pull-policy-unsigned", "policy", "A signature was required, but no signature exists"),
    ("skopeo-copy-policy-unsigned", "policy", "Signature for identity 127.0.0.1:5612/bb:signed is not accepted"),
    ("skopeo-copy-policy-otherkey", "policy",
     "signed by key C0495C26789FBCA353AE117D0C038CA08C444C83, which is not among the keys the policy trusts"),
    ("podman-push-sign-nokey", "signing", 'signing failed: creating signature: key "DEADBEEF" not found'),
    ("skopeo-copy-sign-pp-missing", "signing", "give sign_passphrase_file"),
    ("sk-oci-missing-dir", "not_found", "index.json: no such file or directory"),
    ("sk-oci-missing-ref", "not_found", 'no descriptor found for reference "v2"'),
    ("sk-dir-missing", "not_found", "manifest.json"),
    ("sk-ociarchive-missing", "not_found", "no such file or directory"),
    ("sk-cs-missing", "not_found", "identifier is not an image"),
])
def test_real_failures_are_classified(name, kind, words):
    stderr = fixture(f"errors/{name}.txt")
    error = pm.EngineError(["/usr/bin/x", "y"], 125, "", stderr, image="the/image:1")
    assert error.kind == kind
    assert words in str(error)
    assert str(error).startswith("the/image:1: ")
    # The wrapper that repeats the reference is gone; progress lines and retries are not part of the message.
    assert "Error parsing image name" not in str(error) and "Trying to pull" not in str(error)
    assert "retrying" not in str(error)
    assert error.result()["failure"] == kind


@pytest.mark.parametrize("err, words", [
    ("0x7000008", "does not match what it signs (altered or damaged)"),
    ("0x9", "which is not among the keys the policy trusts"),
    ("0x700000b", "does not verify (gpg error code 11)"),
])
def test_gpgme_errors_in_words(err, words):
    # As podman 4.3 printed it for a signature whose bytes were altered on a test host (err:0x7000008).
    stderr = ("Error: Source image rejected: Invalid GPG signature: gpgme.Signature{Summary:4, Fingerprint:"
              f'"0C038CA08C444C83", Status:gpgme.Error{{err:{err}}}, Timestamp:time.Date(2026, time.November, 23, '
              "10, 16, 31, 0, time.Local), PubkeyAlgo:1, HashAlgo:10}\n")
    detail = pm.failure_detail(stderr)
    assert words in detail and "gpgme.Signature" not in detail
    assert pm.classify_failure(detail)[0] == "policy"


def test_tampered_signature_message():
    detail = pm.failure_detail("Error: Source image rejected: Unexpected GPG signature count 0\n")
    assert pm.classify_failure(detail)[0] == "policy"
    assert "damaged or was altered" in detail


def test_unknown_failure_keeps_the_message():
    error = pm.EngineError(["/usr/bin/podman", "rmi", "x"], 2, "", "Error: something odd\n", image="x")
    assert error.kind is None and str(error) == "x: something odd"
    silent = pm.EngineError(["/usr/bin/podman"], 3, "", "")
    assert str(silent) == "podman exited with status 3 and no message"
    assert silent.message(with_image=False) == "podman exited with status 3 and no message"


def test_registry_options_args():
    assert pm.RegistryOptions().podman_args() == []
    assert pm.RegistryOptions("/tmp/a.json", False, "/etc/ca").podman_args() == [
        "--authfile", "/tmp/a.json", "--tls-verify=false", "--cert-dir", "/etc/ca"]


def test_inspect_one_call_for_all_names_and_missing_ones():
    module = FakeModule([(125, fixture("podman-inspect-partial.json"), fixture("podman-inspect-partial.stderr"))])
    podman = pm.Podman(module)
    refs = [parse_reference(text) for text in ("localhost/bb:v1", "127.0.0.1:5612/missing:1", "localhost/bb:v2",
                                               "127.0.0.1:5612/gone:2")]
    found = podman.inspect(refs + refs[:1])
    assert module.calls == [["/usr/bin/podman", "image", "inspect", "--", *(str(ref) for ref in refs)]]
    assert module.environ[0]["LC_ALL"] == "C"
    missing = [key for key, value in found.items() if value is None]
    assert missing == ["127.0.0.1:5612/missing:1", "127.0.0.1:5612/gone:2"]


def test_inspect_other_failures_raise():
    module = FakeModule([(125, "[]", "Error: creating runtime: permission denied\n")])
    with pytest.raises(pm.EngineError, match="permission denied"):
        pm.Podman(module).inspect([parse_reference("localhost/bb:v1")])
    module = FakeModule([(125, "not json", "")])
    with pytest.raises(pm.EngineError):
        pm.Podman(module).inspect([parse_reference("localhost/bb:v1")])
    assert pm.Podman(FakeModule()).inspect([]) == {}


def test_pull_tag_untag_remove_argv():
    module = FakeModule([(0, f"{V1_ID}\n", "")])
    podman = pm.Podman(module, "/opt/podman")
    ref = parse_reference("registry.example/app:1")
    assert podman.pull(ref, pm.RegistryOptions("/tmp/auth.json")) == V1_ID
    podman.tag("registry.example/app:1", [parse_reference("registry.example/app:2"),
                                          parse_reference("localhost/app:2")])
    podman.tag("x", [])
    podman.untag(V1_ID, ["registry.example/app:1"])
    podman.remove("registry.example/app:2")
    assert module.calls == [
        ["/opt/podman", "pull", "--quiet", "--authfile", "/tmp/auth.json", "--", "registry.example/app:1"],
        ["/opt/podman", "tag", "registry.example/app:1", "registry.example/app:2", "localhost/app:2"],
        ["/opt/podman", "untag", V1_ID, "registry.example/app:1"],
        ["/opt/podman", "rmi", "--", "registry.example/app:2"],
    ]


def test_push_signs_with_passphrase_and_reads_the_digest_file():
    def answer(argv: list[str]) -> tuple[int, str, str]:
        Path(argv[argv.index("--digestfile") + 1]).write_text("sha256:" + "1" * 64)
        return 0, "", ""

    module = FakeModule([answer])
    podman = pm.Podman(module, environ={"GNUPGHOME": "/root/g"})
    digest = podman.push(parse_reference("registry.example/app:1"), pm.RegistryOptions(ca_cert_dir="/ca"),
                         sign_by="ABCD", passphrase_file="/root/pp")
    assert digest == "sha256:" + "1" * 64
    argv = module.calls[0]
    digest_file = argv[argv.index("--digestfile") + 1]
    assert argv == ["/usr/bin/podman", "push", "--quiet", "--remove-signatures", "--cert-dir", "/ca",
                    "--sign-by", "ABCD", "--sign-passphrase-file", "/root/pp", "--digestfile", digest_file, "--",
                    "registry.example/app:1"]
    assert module.environ[0]["GNUPGHOME"] == "/root/g"
    # The temporary directory of the digest file is gone.
    assert not Path(digest_file).parent.exists()


def test_push_failure_names_the_image():
    module = FakeModule([(125, "", fixture("errors/podman-push-auth-wrong.txt"))])
    with pytest.raises(pm.EngineError) as info:
        pm.Podman(module).push(parse_reference("registry.example/app:1"), pm.RegistryOptions())
    assert info.value.kind == "auth" and str(info.value).startswith("registry.example/app:1: authentication failed")


def test_push_from_a_source_to_a_destination():
    module = FakeModule()
    assert pm.Podman(module).push(parse_reference("registry.example/app:1"), pm.RegistryOptions(),
                                  source="localhost/app:1") is None
    assert module.calls[0][-2:] == ["localhost/app:1", "docker://registry.example/app:1"]


def test_inspect_json_is_what_the_fixture_says():
    # Guards the fixture itself: podman printed one JSON array with two images.
    assert len(json.loads(fixture("podman-inspect-partial.json"))) == 2
