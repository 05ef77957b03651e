# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the skopeo runner: digests from raw manifests (real ones), manifest lists, copy/delete argv."""

from __future__ import annotations

import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _skopeo as sk
from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import parse_reference
from ansible_collections.containerhost.platform.plugins.module_utils._podman import EngineError, RegistryOptions

FIXTURES = Path(__file__).parent / "fixtures" / "images"
RICH_ID = "sha256:" + json.loads((FIXTURES / "skopeo-raw-oci-manifest.json").read_text())["config"]["digest"][7:]
LIST_DIGEST = "sha256:90f0aeb3c50b5e5fd044967eb63ed61c57f71e1fad717ccd34aa0186712622cb"
AMD64 = "sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc"
ARM64 = "sha256:79d25ea0336cc4c2ad9156f8c8a8071abe23f4722818d93bf039a6130d2537cb"


class FakeModule:
    """Records run_command calls and answers from a queue; an answer may be a function of the argv."""

    def __init__(self, answers: list[t.Any] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = list(answers or [])

    def get_bin_path(self, name: str, required: bool = False) -> str:
        return f"/usr/bin/{name}"

    def run_command(self, argv: t.Any, environ_update: dict | None = None, **kwargs: t.Any) -> tuple[int, str, str]:
        assert isinstance(argv, list)
        assert environ_update and environ_update["LC_ALL"] == "C"
        self.calls.append(argv)
        answer = self.answers.pop(0) if self.answers else (0, "", "")
        return answer(argv) if callable(answer) else answer


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_raw_sha256_is_the_digest_skopeo_reports():
    # skopeo's own --format '{{.Digest}}' for the same tag, captured together with the raw manifest.
    assert sk.manifest_digest(fixture("skopeo-raw-oci-manifest.json")) == fixture("skopeo-format-digest.txt").strip()
    assert sk.manifest_digest(fixture("skopeo-raw-list.json").encode()) == LIST_DIGEST


def test_parse_manifests():
    oci = sk.parse_manifest(fixture("skopeo-raw-oci-manifest.json"))
    assert oci["media_type"] == "application/vnd.oci.image.manifest.v1+json" and not oci["is_list"]
    assert oci["config_digest"] == RICH_ID and len(oci["layers"]) == 1 and oci["size"] > 0
    v2s2 = sk.parse_manifest(fixture("skopeo-raw-docker-v2s2.json"))
    assert v2s2["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert v2s2["config_digest"] == "sha256:8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61"
    index = sk.parse_manifest(fixture("skopeo-raw-list.json"))
    assert index["is_list"] and [entry["digest"] for entry in index["instances"]] == [AMD64, ARM64]
    schema1 = sk.parse_manifest('{"schemaVersion": 1, "fsLayers": [{"blobSum": "sha256:aa"}]}')
    assert schema1["media_type"] in sk.SCHEMA1_MEDIA_TYPES and schema1["layers"] == ["sha256:aa"]
    assert schema1["config_digest"] is None
    with pytest.raises(ValueError):
        sk.parse_manifest("[]")


@pytest.mark.parametrize("machine, expected", [
    ("x86_64", AMD64), ("aarch64", ARM64), ("s390x", None),
])
def test_pick_instance(machine, expected):
    instances = sk.parse_manifest(fixture("skopeo-raw-list.json"))["instances"]
    assert sk.pick_instance(instances, sk.machine_platform(machine)) == expected


def test_pick_instance_prefers_the_exact_variant():
    instances = [{"digest": "a", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
                 {"digest": "b", "platform": {"os": "linux", "architecture": "arm"}},
                 {"digest": "c", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]
    assert sk.pick_instance(instances, ("linux", "arm", "v7")) == "c"
    assert sk.pick_instance(instances[:2], ("linux", "arm", "v7")) == "b"


def test_remote_image_plain_manifest_one_call():
    module = FakeModule([(0, fixture("skopeo-raw-oci-manifest.json"), "")])
    remote = sk.Skopeo(module).remote_image(parse_reference("127.0.0.1:5612/rich:1"),
                                            RegistryOptions("/tmp/auth.json", True, "/ca"))
    assert module.calls == [["/usr/bin/skopeo", "inspect", "--raw", "--authfile", "/tmp/auth.json", "--cert-dir", "/ca",
                             "docker://127.0.0.1:5612/rich:1"]]
    assert remote.digest == fixture("skopeo-format-digest.txt").strip()
    assert remote.config_digest == RICH_ID and remote.instance_digest is None
    assert remote.digests == {remote.digest}


def test_remote_image_list_asks_for_this_platform_entry():
    module = FakeModule([(0, fixture("skopeo-raw-list.json"), ""), (0, fixture("skopeo-raw-docker-v2s2.json"), "")])
    remote = sk.Skopeo(module).remote_image(parse_reference("127.0.0.1:5612/bb-list:1"),
                                            RegistryOptions(validate_certs=False), machine=("linux", "amd64", None))
    assert module.calls[1] == ["/usr/bin/skopeo", "inspect", "--raw", "--tls-verify=false",
                               f"docker://127.0.0.1:5612/bb-list@{AMD64}"]
    assert remote.digest == LIST_DIGEST and remote.instance_digest == AMD64
    assert remote.config_digest == "sha256:8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61"
    assert remote.digests == {LIST_DIGEST, AMD64}


def test_remote_image_list_without_this_platform():
    module = FakeModule([(0, fixture("skopeo-raw-list.json"), "")])
    remote = sk.Skopeo(module).remote_image(parse_reference("127.0.0.1:5612/bb-list:1"), RegistryOptions(),
                                            machine=("linux", "riscv64", None))
    assert remote.config_digest is None and len(module.calls) == 1


def test_remote_image_missing_is_none_other_failures_raise():
    module = FakeModule([(1, "", fixture("errors/skopeo-manifest-unknown.txt")),
                         (1, "", fixture("errors/skopeo-auth-wrong.txt"))])
    skopeo = sk.Skopeo(module)
    assert skopeo.remote_image(parse_reference("127.0.0.1:5612/bb:nope"), RegistryOptions()) is None
    with pytest.raises(EngineError) as info:
        skopeo.remote_image(parse_reference("127.0.0.1:5611/bb:1"), RegistryOptions())
    assert info.value.kind == "auth"


def test_remote_image_layouts_get_no_registry_options():
    module = FakeModule([(1, "", fixture("errors/sk-oci-missing-ref.txt"))])
    assert sk.Skopeo(module).remote_image(parse_reference("oci:/srv/lay:v2"), RegistryOptions(None, False, "/ca")) \
        is None
    assert module.calls == [["/usr/bin/skopeo", "inspect", "--raw", "oci:/srv/lay:v2"]]


def test_remote_image_bad_json_is_an_error():
    module = FakeModule([(0, "<html>", "")])
    with pytest.raises(EngineError, match="not valid JSON"):
        sk.Skopeo(module).remote_image(parse_reference("127.0.0.1:5612/bb:1"), RegistryOptions())


def test_config_and_list_tags():
    module = FakeModule([(0, fixture("skopeo-config.json"), ""), (0, '{"Repository": "r/bb", "Tags": ["1", "2"]}', "")])
    skopeo = sk.Skopeo(module)
    config = skopeo.config(parse_reference("127.0.0.1:5612/rich:1"), RegistryOptions())
    assert config["config"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert skopeo.list_tags(parse_reference("127.0.0.1:5612/bb:1"), RegistryOptions()) == ["1", "2"]
    assert module.calls[1] == ["/usr/bin/skopeo", "list-tags", "docker://127.0.0.1:5612/bb"]


def test_copy_argv_puts_registry_options_on_docker_sides_only():
    def answer(argv: list[str]) -> tuple[int, str, str]:
        Path(argv[argv.index("--digestfile") + 1]).write_text(AMD64 + "\n")
        return 0, "", ""

    module = FakeModule([answer, answer])
    skopeo = sk.Skopeo(module, "/opt/skopeo")
    options = RegistryOptions("/tmp/a.json", False, "/ca")
    digest = skopeo.copy(parse_reference("docker://127.0.0.1:5612/bb:1"), parse_reference("oci:/srv/lay:one"),
                         options)
    assert digest == AMD64
    argv = module.calls[0]
    assert argv[:8] == ["/opt/skopeo", "copy", "--quiet", "--authfile", "/tmp/a.json", "--src-tls-verify=false",
                        "--src-cert-dir", "/ca"]
    assert argv[-2:] == ["docker://127.0.0.1:5612/bb:1", "oci:/srv/lay:one"]
    skopeo.copy(parse_reference("dir:/srv/d"), parse_reference("127.0.0.1:5612/bb:2"), RegistryOptions(),
                sign_by="ABCD", passphrase_file="/pp", dest_text="docker://elsewhere.example/x:1")
    argv = module.calls[1]
    assert "--src-cert-dir" not in argv and argv[3:7] == ["--sign-by", "ABCD", "--sign-passphrase-file", "/pp"]
    assert argv[-1] == "docker://elsewhere.example/x:1"


def test_delete_and_failure_naming():
    module = FakeModule([(0, "", ""), (1, "", fixture("errors/skopeo-tls.txt"))])
    skopeo = sk.Skopeo(module)
    skopeo.delete(parse_reference("127.0.0.1:5612/bb:1"), RegistryOptions(ca_cert_dir="/ca"))
    assert module.calls[0] == ["/usr/bin/skopeo", "delete", "--cert-dir", "/ca", "docker://127.0.0.1:5612/bb:1"]
    with pytest.raises(EngineError, match=r"^127.0.0.1:5612/bb:1: TLS verification failed"):
        skopeo.delete(parse_reference("127.0.0.1:5612/bb:1"), RegistryOptions())


def test_remote_image_as_dict():
    remote = sk.RemoteImage(LIST_DIGEST, sk.LIST_MEDIA_TYPES[1], "sha256:aa", instance_digest=AMD64)
    assert remote.as_dict() == {"digest": LIST_DIGEST, "media_type": sk.LIST_MEDIA_TYPES[1],
                                "config_digest": "sha256:aa", "instance_digest": AMD64}
