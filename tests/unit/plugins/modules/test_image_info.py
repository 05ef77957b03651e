# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.image_info module through main(), with podman and skopeo answering
from real captured output."""

from __future__ import annotations

import hashlib
import json
import os
import typing as t

from pathlib import Path

import pytest

from ansible.module_utils import basic

from ansible_collections.containerhost.platform.plugins.modules import image_info as info_module

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "images"
REG = "127.0.0.1:5612"
RICH = json.loads((FIXTURES / "podman-inspect-rich.json").read_text())[0]
RAW = (FIXTURES / "skopeo-raw-oci-manifest.json").read_text()
RAW_DIGEST = "sha256:" + hashlib.sha256(RAW.encode()).hexdigest()
CONFIG = (FIXTURES / "skopeo-config.json").read_text()
CREATED = RICH["Created"]


class Tools:
    """podman image inspect from the rich fixture (as REG/rich:1), skopeo from the captured registry answers."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.local = dict(RICH, RepoTags=[f"{REG}/rich:1", "localhost/bb:rich"],
                          RepoDigests=[f"{REG}/rich@{RAW_DIGEST}", f"localhost/bb@{RICH['Digest']}"])
        self.registry_raw: str | None = RAW
        self.registry_error: str | None = None

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        assert isinstance(argv, list)
        self.calls.append(argv)
        tool = os.path.basename(argv[0])
        if tool == "podman":
            names = argv[argv.index("--") + 1:]
            found = [self.local] if any(name in self.local["RepoTags"] or self.local["Id"].startswith(name)
                                        for name in names) else []
            missing = [name for name in names if name not in self.local["RepoTags"]
                       and not self.local["Id"].startswith(name)]
            err = "".join(f"Error: inspecting object: {name}: image not known\n" for name in missing)
            return (125 if missing else 0), json.dumps(found), err
        if self.registry_error:
            return 1, "", self.registry_error
        if "--raw" in argv:
            if self.registry_raw is None or "missing" in argv[-1]:
                return 1, "", ('time="x" level=fatal msg="reading manifest 1 in x: manifest unknown: manifest '
                               'unknown"\n')
            return 0, self.registry_raw, ""
        if "--config" in argv:
            return 0, CONFIG, ""
        raise AssertionError(argv)


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> Tools:
    fake = Tools()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: fake.run_command(argv, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: f"/usr/bin/{name}")
    return fake


@pytest.fixture
def run(set_module_args, module_exits):
    def _run(args: dict[str, t.Any]) -> dict[str, t.Any]:
        set_module_args(args)
        try:
            info_module.main()
        except (module_exits.exit, module_exits.fail) as exc:
            return exc.result
        raise AssertionError("the module neither exited nor failed")

    return _run


def test_local_image_with_everything(tools, run):
    result = run({"names": [f"{REG}/rich:1", f"{REG}/absent:1"], "now": "2026-12-01T00:00:00Z"})
    assert not result["changed"]
    rich, absent = result["images"]
    assert rich["exists"] and not rich["remote"]
    assert rich["id"] == RICH["Id"] and rich["digest"] == RAW_DIGEST
    assert rich["entrypoint"] == ["/bin/sh", "-c"] and rich["cmd"] == ["echo hello"]
    assert rich["exposed_ports"] == ["53/udp", "8080/tcp"] and rich["working_dir"] == "/srv"
    assert rich["labels"] == {"org.opencontainers.image.title": "busybox-test"}
    assert rich["layers"] == RICH["RootFS"]["Layers"]
    assert rich["freshness"]["newer_digest"] is False and rich["freshness"]["registry_digest"] == RAW_DIGEST
    assert rich["freshness"]["grade"] == "A"
    assert absent == {**info_module.EMPTY, "name": f"{REG}/absent:1", "exists": False, "remote": False,
                      "freshness": None}
    # One inspect for all names, one registry read for the tag that exists.
    assert [os.path.basename(call[0]) for call in tools.calls] == ["podman", "skopeo"]


def test_remote_image_gives_the_digest_a_pull_records(tools, run):
    result = run({"names": [f"{REG}/rich:1"], "remote": True, "now": "2026-12-01T00:00:00Z"})
    remote = result["images"][0]
    local = run({"names": [f"{REG}/rich:1"], "now": "2026-12-01T00:00:00Z"})["images"][0]
    assert remote["remote"] and remote["digest"] == RAW_DIGEST == local["digest"]
    assert remote["id"] == local["id"]
    for key in ("created", "labels", "env", "entrypoint", "cmd", "exposed_ports", "working_dir", "user", "layers",
                "architecture", "os"):
        assert remote[key] == local[key], key
    assert [step["created_by"] for step in remote["history"]] == [step["created_by"] for step in local["history"]]
    assert remote["size"] == sum(layer["size"] for layer in json.loads(RAW)["layers"]) + json.loads(RAW)["config"]["size"]
    assert remote["freshness"]["newer_digest"] is False
    assert not any(os.path.basename(call[0]) == "podman" for call in tools.calls[:2])


def test_grade_moves_with_the_clock_and_with_a_newer_digest(tools, run):
    def grade(now: str) -> dict:
        return run({"names": [f"{REG}/rich:1"], "now": now})["images"][0]["freshness"]

    assert [grade(now)["grade"] for now in ("2026-12-01", "2027-02-01", "2027-05-01", "2027-09-01", "2028-01-01")] \
        == ["A", "B", "C", "D", "F"]
    # The registry's tag now names another image: one grade down, and the reason says so.
    tools.registry_raw = RAW.replace(RICH["Id"], "f" * 64)
    newer = grade("2026-12-01")
    assert newer["newer_digest"] is True and newer["grade"] == "B"
    assert newer["reasons"][-1] == "the registry holds a newer digest for the tag: 1 step(s) down to B"
    custom = run({"names": [f"{REG}/rich:1"], "now": "2026-12-01",
                  "grade_rule": {"age_days": {"A": 1, "B": 2, "C": 3, "D": 400}, "newer_digest_penalty": 2}})
    assert custom["images"][0]["freshness"]["grade"] == "F"


def test_registry_trouble_warns_and_leaves_newer_unknown(tools, run, monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    tools.registry_error = ('time="x" level=fatal msg="pinging container registry 127.0.0.1:5612: Get '
                            '\\"https://127.0.0.1:5612/v2/\\": x509: certificate signed by unknown authority"\n')
    result = run({"names": [f"{REG}/rich:1"], "now": "2026-12-01"})
    fresh = result["images"][0]["freshness"]
    assert fresh["newer_digest"] is None and "TLS verification failed" in fresh["reasons"][-1]
    assert len(warnings) == 1 and warnings[0].startswith(f"{REG}/rich:1: the registry could not be asked")
    # Remote mode has no local answer to fall back to: it fails with the cause.
    failed = run({"names": [f"{REG}/rich:1"], "remote": True})
    assert failed["failed"] and failed["failure"] == "tls"


def test_names_without_a_tag_to_compare(tools, run):
    result = run({"names": ["localhost/bb:rich", RICH["Id"][:12]], "now": "2026-12-01"})
    notes = [entry["freshness"]["reasons"][-1] for entry in result["images"]]
    assert notes == ["a local name (localhost/): no registry to compare with",
                     "named by ID: no tag to compare with the registry"]
    assert all(os.path.basename(call[0]) == "podman" for call in tools.calls)
    skipped = run({"names": [f"{REG}/rich:1"], "check_registry": False, "now": "2026-12-01"})
    assert skipped["images"][0]["freshness"]["reasons"][-1] == "check_registry is false: the registry was not asked"


def test_remote_missing_and_layouts(tools, run):
    result = run({"names": [f"{REG}/missing:1", "oci:/srv/layout:one"], "remote": True, "now": "2026-12-01"})
    missing, layout = result["images"]
    assert not missing["exists"] and missing["freshness"] is None
    assert layout["exists"] and layout["freshness"]["newer_digest"] is None


@pytest.mark.parametrize("args, message", [
    ({"names": ["rich:1"]}, r"names\[0\]: image reference 'rich:1': it is a short name"),
    ({"names": ["oci:/srv/x:1"]}, r"names\[0\]: .*the oci transport is not accepted here"),
    ({"names": [f"{REG}/rich:1"], "now": "tomorrow"}, r"now 'tomorrow' is not an ISO 8601 time"),
    ({"names": [f"{REG}/rich:1"], "grade_rule": {"age_days": {"A": 50, "B": 10}}}, r"B \(10\) is below A \(50\)"),
    ({"names": [f"{REG}/rich:1"], "grade_rule": {"newer_digest_penalty": 9}}, r"newer_digest_penalty: 9"),
    ({"names": [f"{REG}/rich:1"], "username": "u"}, r"parameters are required together: username, password"),
])
def test_bad_input(tools, run, args, message):
    import re

    result = run(args)
    assert result["failed"] and re.search(message, result["msg"]), result["msg"]
    assert tools.calls == []
