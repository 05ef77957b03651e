# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.pki_files module, run through main() on a temporary directory."""

from __future__ import annotations

import os
import stat
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _file_set as fs
from ansible_collections.containerhost.platform.plugins.modules import pki_files

UID = os.geteuid()
GID = os.getegid()
SECRET = "-----BEGIN PRIVATE KEY-----\nS3CR3T\n-----END PRIVATE KEY-----\n"


class Accounts(fs.Accounts):
    """``root`` and ``etcd`` are the user running the tests (so that writes work without root); ``other`` is not."""

    USERS = {"root": UID, "etcd": UID, "other": UID + 1}
    GROUPS = {"root": GID, "etcd": GID, "other": GID + 1}

    def user(self, value, where):
        if value not in self.USERS:
            raise fs.UnknownAccount(f"{where}: there is no user {value!r} on the host")
        return fs.Account(self.USERS[value], value)

    def group(self, value, where):
        if value not in self.GROUPS:
            raise fs.UnknownAccount(f"{where}: there is no group {value!r} on the host")
        return fs.Account(self.GROUPS[value], value)

    def primary_group(self, user, where):
        return fs.Account(self.GROUPS.get(user.label), user.label)

    def user_label(self, uid):
        return "etcd" if uid == UID else str(uid)

    def group_label(self, gid):
        return "etcd" if gid == GID else str(gid)

    def running_user(self):
        return fs.Account(UID, "etcd")


@pytest.fixture(autouse=True)
def fixture_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pki_files, "Accounts", Accounts)


@pytest.fixture(name="pki")
def fixture_pki(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "etcd" / "pki"


@pytest.fixture(name="run")
def fixture_run(run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **params: t.Any) -> dict[str, t.Any]:
        return run_main(pki_files.main, params, check=check, diff=diff, fail=fail)

    return _run


def files(key: str = SECRET, key_mode: str = "0600") -> list[dict[str, t.Any]]:
    """The etcd role's five files."""
    return [
        {"name": "ca.crt", "content": "CA\n", "owner": "root", "group": "root", "mode": "0644"},
        {"name": "member.crt", "content": "CERT\n", "owner": "etcd", "group": "etcd", "mode": "0644"},
        {"name": "member.key", "content": key, "owner": "etcd", "group": "etcd", "mode": key_mode},
        {"name": "client.crt", "content": "CLIENT\n", "owner": "root", "group": "root", "mode": "0644"},
        {"name": "client.key", "content": "CLIENTKEY\n", "owner": "root", "group": "root", "mode": "0600"},
    ]


def params(pki: Path, **overrides: t.Any) -> dict[str, t.Any]:
    """The role's task arguments."""
    return {"dir": str(pki), "dir_owner": "root", "dir_group": "etcd", "dir_mode": "0750", "files": files(),
            **overrides}


def mode_of(path: Path) -> int:
    """Permission bits."""
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(pki: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry's inode, mtime and content."""
    return {name: ((pki / name).stat().st_ino, (pki / name).stat().st_mtime_ns, (pki / name).read_bytes())
            for name in sorted(os.listdir(pki))}


def test_first_run_creates_dir_and_files(pki, run):
    result = run(**params(pki))
    assert result["changed"] is True and result["dir_changed"] is True and result["dir_changes"] == ["created"]
    assert result["changed_files"] == ["ca.crt", "member.crt", "member.key", "client.crt", "client.key"]
    assert result["removed_files"] == [] and result["changes"]["member.key"] == "created"
    assert result["dir"] == str(pki)
    assert mode_of(pki) == 0o750
    assert sorted(os.listdir(pki)) == ["ca.crt", "client.crt", "client.key", "member.crt", "member.key"]
    assert (pki / "member.key").read_text() == SECRET and mode_of(pki / "member.key") == 0o600
    assert (pki / "ca.crt").read_text() == "CA\n" and mode_of(pki / "ca.crt") == 0o644
    assert mode_of(pki / "client.key") == 0o600
    assert (pki / "member.key").stat().st_uid == UID


def test_second_run_changes_and_writes_nothing(pki, run):
    run(**params(pki))
    before = snapshot(pki)
    result = run(**params(pki))
    assert result["changed"] is False and result["changed_files"] == [] and result["changes"] == {}
    assert result["dir_changed"] is False
    assert snapshot(pki) == before


def test_only_the_differing_file_is_written(pki, run):
    run(**params(pki))
    before = snapshot(pki)
    result = run(**params(pki, files=files(key="NEWKEY\n")), diff=True)
    assert result["changed"] is True and result["changed_files"] == ["member.key"]
    assert result["changes"] == {"member.key": "content changed"}
    after = snapshot(pki)
    assert after["member.key"][2] == b"NEWKEY\n" and after["member.key"][0] != before["member.key"][0]
    assert {k: v for k, v in after.items() if k != "member.key"} == \
        {k: v for k, v in before.items() if k != "member.key"}


def test_mode_change_keeps_the_inode(pki, run):
    run(**params(pki, files=files(key_mode="0644")))
    inode = (pki / "member.key").stat().st_ino
    result = run(**params(pki), diff=True)
    assert result["changes"] == {"member.key": "mode 0644 -> 0600"}
    assert (pki / "member.key").stat().st_ino == inode and mode_of(pki / "member.key") == 0o600
    assert result["diff"]["before"] == "member.key: owner etcd, group etcd, mode 0644\n"
    assert result["diff"]["after"] == "member.key: owner etcd, group etcd, mode 0600\n"


def test_diff_shows_metadata_never_content(pki, run):
    run(**params(pki, files=files(key_mode="0644")))
    (pki / "ca.crt").unlink()
    result = run(**params(pki, files=files(key="OTHER SECRET\n")), diff=True)
    assert result["changes"] == {"ca.crt": "created", "member.key": "content changed, mode 0644 -> 0600"}
    diff = result["diff"]
    assert diff["before_header"] == diff["after_header"] == str(pki)
    assert diff["before"] == "member.key: owner etcd, group etcd, mode 0644\n"
    assert diff["after"] == ("ca.crt: owner root, group root, mode 0644, content new\n"
                             "member.key: owner etcd, group etcd, mode 0600, content changed\n")
    shown = repr(result)
    assert "S3CR3T" not in shown and "OTHER SECRET" not in shown and "CA\\n" not in shown


def test_check_mode_predicts_exactly_and_writes_nothing(pki, run):
    predicted = run(**params(pki), check=True, diff=True)
    assert not pki.exists()
    assert predicted["diff"]["before"] == "directory: absent\n"
    assert predicted["diff"]["after"].startswith("directory: owner root, group etcd, mode 0750\n")
    real = run(**params(pki), diff=True)
    keys = ("changed", "dir_changed", "dir_changes", "changed_files", "removed_files", "changes")
    assert {k: predicted[k] for k in keys} == {k: real[k] for k in keys}
    assert predicted["diff"] == real["diff"]
    # A changed key and a loosened directory, predicted then made.
    os.chmod(pki, 0o755)
    changed = params(pki, files=files(key="NEW\n"))
    before = snapshot(pki)
    predicted = run(**changed, check=True)
    assert snapshot(pki) == before and mode_of(pki) == 0o755
    assert predicted["changed_files"] == ["member.key"] and predicted["dir_changes"] == ["mode 0755 -> 0750"]
    real = run(**changed)
    assert {k: predicted[k] for k in keys} == {k: real[k] for k in keys}
    assert run(**changed, check=True)["changed"] is False


def test_symlink_is_replaced_not_followed(pki, run, tmp_path):
    run(**params(pki))
    outside = tmp_path / "outside"
    outside.write_text("untouched\n")
    (pki / "member.key").unlink()
    (pki / "member.key").symlink_to(outside)
    result = run(**params(pki))
    assert result["changes"] == {"member.key": "symlink replaced by a file"}
    assert not (pki / "member.key").is_symlink() and (pki / "member.key").read_text() == SECRET
    assert outside.read_text() == "untouched\n"


def test_purge_removes_undeclared_files_only(pki, run):
    run(**params(pki))
    (pki / "old.key").write_text("old\n")
    (pki / "keep-dir").mkdir()
    kept = params(pki, files=files()[:3])
    assert run(**kept)["changed"] is False
    predicted = run(**kept, purge=True, check=True, diff=True)
    assert predicted["removed_files"] == ["client.crt", "client.key", "old.key"] and (pki / "old.key").exists()
    assert "old.key: owner etcd, group etcd, mode 0644\n" in predicted["diff"]["before"]
    result = run(**kept, purge=True)
    assert result["removed_files"] == ["client.crt", "client.key", "old.key"] and result["changed_files"] == []
    assert result["changes"]["old.key"] == "removed"
    assert sorted(os.listdir(pki)) == ["ca.crt", "keep-dir", "member.crt", "member.key"]
    assert run(**kept, purge=True)["changed"] is False


def test_existing_directory_keeps_what_is_not_declared(pki, run):
    pki.mkdir(parents=True, mode=0o711)
    os.chmod(pki, 0o711)
    result = run(dir=str(pki), files=files()[:1])
    assert result["dir_changed"] is False and result["changed_files"] == ["ca.crt"]
    assert mode_of(pki) == 0o711


def test_defaults_are_the_running_user_and_0600(pki, run):
    run(dir=str(pki), files=[{"name": "token", "content": "t"}])
    assert mode_of(pki) == 0o700 and mode_of(pki / "token") == 0o600
    assert (pki / "token").stat().st_uid == UID and (pki / "token").read_bytes() == b"t"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"files": [{"name": "../passwd", "content": "x"}]}, "files[0] (../passwd): name: '../passwd' contains '/'"),
    ({"files": [*files(), {"name": "ca.crt", "content": "x"}]},
     "files[5] (ca.crt): name: ca.crt is already declared by files[0] (ca.crt)"),
    ({"files": [{"name": "a", "content": "x", "mode": "0888"}]}, "files[0] (a): mode: '0888' is not an octal mode"),
    ({"files": [{"name": "a", "content": "x", "mode": 384}]}, "files[0] (a): mode: 384 is not a string"),
    ({"files": [*files(), {"name": "b", "content": "x", "owner": "etcd2"}]},
     "files[5] (b): owner: there is no user 'etcd2'"),
    ({"files": [{"name": "a", "content": "x", "group": "etcd2"}]}, "files[0] (a): group: there is no group 'etcd2'"),
    ({"dir_mode": "750x"}, "dir_mode: '750x' is not an octal mode"),
    ({"dir_owner": "etcd2"}, "dir_owner: there is no user 'etcd2'"),
    ({"dir": "etc/pki"}, "dir: "),
])
def test_bad_input_fails_before_any_write(pki, run, overrides, message):
    result = run(**params(pki, **overrides), fail=True)
    assert result["msg"].startswith(message)
    assert not pki.exists()


def test_missing_content_fails_in_argument_validation(pki, run):
    result = run(**params(pki, files=[{"name": "a"}]), fail=True)
    assert "content" in result["msg"] and not pki.exists()


def test_a_directory_in_the_way_fails_before_any_write(pki, run):
    pki.mkdir(parents=True)
    (pki / "member.key").mkdir()
    result = run(**params(pki), fail=True)
    assert result["msg"].startswith("files[2] (member.key): name: member.key is a directory")
    assert sorted(os.listdir(pki)) == ["member.key"]


def test_dir_that_is_a_file_fails(pki, run):
    pki.parent.mkdir(parents=True)
    pki.write_text("x")
    assert run(**params(pki), fail=True)["msg"] == f"dir: {pki} is a file, not a directory"


def test_unknown_owner_in_check_mode_warns_and_predicts_a_change(pki, run, warnings):
    run(**params(pki))
    entry = {"name": "member.key", "content": SECRET, "owner": "etcd2", "group": "etcd2", "mode": "0600"}
    result = run(**params(pki, files=[entry]), check=True)
    assert result["changed_files"] == ["member.key"]
    assert result["changes"] == {"member.key": "owner etcd -> etcd2, group etcd -> etcd2"}
    assert len(warnings) == 2 and "files[0] (member.key): owner: there is no user 'etcd2'" in warnings[0]
    assert run(**params(pki, files=[entry]), fail=True)["msg"].startswith("files[0] (member.key): owner:")


def test_owner_change_is_predicted(pki, run):
    run(**params(pki))
    entry = {"name": "member.key", "content": SECRET, "owner": "other", "group": "other", "mode": "0600"}
    result = run(**params(pki, files=[entry]), check=True, diff=True)
    assert result["changes"] == {"member.key": "owner etcd -> other, group etcd -> other"}
    assert result["diff"]["after"] == "member.key: owner other, group other, mode 0600\n"


def test_write_failure_reports_what_was_done(pki, run, monkeypatch):
    run(**params(pki))
    real = fs.write_file

    def write_file(directory, wanted, prepare=None):
        if wanted.name == "client.key":
            raise OSError(28, "No space left on device", os.path.join(directory, wanted.name))
        real(directory, wanted, prepare)

    monkeypatch.setattr(pki_files, "write_file", write_file)
    changed = [{**entry, "content": entry["content"] + "v2\n"} for entry in files()]
    result = run(**params(pki, files=changed), fail=True)
    assert result["msg"] == f"could not change {pki}/client.key: No space left on device"
    assert result["changed_files"] == ["ca.crt", "member.crt", "member.key", "client.crt"]
    assert (pki / "client.crt").read_text() == "CLIENT\nv2\n" and (pki / "client.key").read_text() == "CLIENTKEY\n"


def test_content_is_no_log():
    assert pki_files.ARGUMENT_SPEC["files"]["options"]["content"]["no_log"] is True
