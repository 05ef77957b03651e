# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for registry credentials: the temporary auth file, its modes and removal, and the hidden values."""

from __future__ import annotations

import base64
import json
import os
import stat

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _registry_auth as ra


class FakeModule:
    """What RegistryAccess uses of a module."""

    def __init__(self, **params: object) -> None:
        self.params = {"auth_file": None, "username": None, "password": None, "validate_certs": True,
                       "ca_cert_dir": None, **params}
        self.no_log_values: set[str] = set()


def test_basic_auth_and_file_content():
    assert ra.basic_auth("tester", "s3cr3t") == base64.b64encode(b"tester:s3cr3t").decode()
    content = json.loads(ra.auth_file_content(["b.example:5000", "a.example", "a.example"], "u", "p"))
    assert content == {"auths": {"a.example": {"auth": ra.basic_auth("u", "p")},
                                 "b.example:5000": {"auth": ra.basic_auth("u", "p")}}}


def test_secret_values_cover_the_encodings():
    values = ra.secret_values("tester", "p>a?s")
    assert values[0] == "p>a?s"
    assert ra.basic_auth("tester", "p>a?s") in values
    assert base64.urlsafe_b64encode(b"tester:p>a?s").decode() in values
    assert ra.secret_values("tester", None) == []
    assert ra.secret_values(None, "pw") == ["pw"]


def test_temporary_auth_file_is_private_and_removed(tmp_path: Path):
    with ra.TemporaryAuthFile(["r.example"], "u", "pw", tmpdir=str(tmp_path)) as auth:
        path = Path(auth.path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert json.loads(path.read_text())["auths"]["r.example"]["auth"] == ra.basic_auth("u", "pw")
    assert not path.exists() and not path.parent.exists()
    assert auth.path is None


def test_temporary_auth_file_removed_when_the_task_fails(tmp_path: Path):
    with pytest.raises(RuntimeError):
        with ra.TemporaryAuthFile(["r.example"], "u", "pw", tmpdir=str(tmp_path)) as auth:
            directory = Path(auth.directory)
            raise RuntimeError("boom")
    assert not directory.exists()
    assert os.listdir(tmp_path) == []


def test_registry_access_with_credentials():
    module = FakeModule(username="tester", password="s3cr3t-Pa55", validate_certs=False, ca_cert_dir="/ca")
    access = ra.RegistryAccess(module, ["r.example", "r.example", "s.example:5000"])
    assert {"s3cr3t-Pa55", ra.basic_auth("tester", "s3cr3t-Pa55")} <= module.no_log_values
    with access as options:
        path = options.auth_file
        assert json.loads(Path(path).read_text())["auths"].keys() == {"r.example", "s.example:5000"}
        assert options.podman_args() == ["--authfile", path, "--tls-verify=false", "--cert-dir", "/ca"]
    assert not os.path.exists(path)


def test_registry_access_with_an_auth_file_writes_nothing():
    module = FakeModule(auth_file="/root/auth.json")
    with ra.RegistryAccess(module, ["r.example"]) as options:
        assert options.auth_file == "/root/auth.json"
    assert module.no_log_values == set()


def test_access_problems(tmp_path: Path):
    assert ra.access_problems({"auth_file": None, "ca_cert_dir": None}) == []
    problems = ra.access_problems({"auth_file": str(tmp_path / "none.json"), "ca_cert_dir": str(tmp_path / "none")})
    assert problems[0].startswith("auth_file:") and "is not a file" in problems[0]
    assert problems[1].startswith("ca_cert_dir:") and "*.crt" in problems[1]
    (tmp_path / "a.json").write_text("{}")
    assert ra.access_problems({"auth_file": str(tmp_path / "a.json"), "ca_cert_dir": str(tmp_path)}) == []


def test_argument_spec_hides_the_password():
    spec = ra.registry_argument_spec()
    assert spec["password"]["no_log"] is True and spec["validate_certs"]["default"] is True
