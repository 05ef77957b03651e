# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the file set: validation, comparison by digest and metadata, atomic writes."""

from __future__ import annotations

import hashlib
import os
import stat

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _file_set as fs

UID = os.geteuid()
GID = os.getegid()


class FakeAccounts(fs.Accounts):
    """Names mapped to numbers without the host's user database; ``etcd`` is another uid unless told otherwise."""

    def __init__(self, etcd_uid: int = UID + 1, etcd_gid: int = GID + 1) -> None:
        self.users = {"root": UID, "etcd": etcd_uid}
        self.groups = {"root": GID, "etcd": etcd_gid}

    def user(self, value, where):
        if value.isdigit():
            return fs.Account(int(value), self.user_label(int(value)))
        if value not in self.users:
            raise fs.UnknownAccount(f"{where}: there is no user {value!r} on the host")
        return fs.Account(self.users[value], value)

    def group(self, value, where):
        if value.isdigit():
            return fs.Account(int(value), self.group_label(int(value)))
        if value not in self.groups:
            raise fs.UnknownAccount(f"{where}: there is no group {value!r} on the host")
        return fs.Account(self.groups[value], value)

    def primary_group(self, user, where):
        if not user.known:
            return fs.Account(None, user.label)
        return fs.Account(self.groups.get(user.label, GID), user.label if user.label in self.groups else "root")

    def user_label(self, uid):
        return next((name for name, number in self.users.items() if number == uid), str(uid))

    def group_label(self, gid):
        return next((name for name, number in self.groups.items() if number == gid), str(gid))

    def running_user(self):
        return fs.Account(UID, "root")


def meta(owner="root", group="root", mode=0o644, accounts=None):
    """A Meta from names."""
    accounts = accounts or FakeAccounts()
    return fs.Meta(accounts.user(owner, "t"), accounts.group(group, "t"), mode)


@pytest.mark.parametrize(("value", "expected"), [("0600", 0o600), ("600", 0o600), ("0o640", 0o640), ("2750", 0o2750),
                                                 (" 0644 ", 0o644)])
def test_parse_mode_accepts_octal_strings(value, expected):
    assert fs.parse_mode(value, "files[0] (a): mode") == expected


@pytest.mark.parametrize(("value", "fragment"), [
    (384, "384 is not a string"),
    (True, "True is not a string"),
    ("0800", "'0800' is not an octal mode"),
    ("u=rw", "'u=rw' is not an octal mode"),
    ("06000", "'06000' is not an octal mode"),
    ("60", "'60' is not an octal mode"),
])
def test_parse_mode_refuses_numbers_and_bad_strings(value, fragment):
    with pytest.raises(fs.FileSetError) as info:
        fs.parse_mode(value, "files[0] (a): mode")
    assert str(info.value).startswith("files[0] (a): mode: ") and fragment in str(info.value)


@pytest.mark.parametrize(("value", "fragment"), [
    ("a/b", "contains '/'"),
    ("/etc/passwd", "contains '/'"),
    ("..", "names a directory"),
    (".", "names a directory"),
    ("", "not a file name"),
    (None, "not a file name"),
    ("a\0b", "NUL byte"),
    (".pki_files.x", "temporary files"),
])
def test_check_name_refuses(value, fragment):
    with pytest.raises(fs.FileSetError) as info:
        fs.check_name(value, "files[2] (x): name")
    assert fragment in str(info.value) and str(info.value).startswith("files[2] (x): name: ")


def entries(**overrides):
    """Three entries as the etcd role declares them; overrides replace keys of the second."""
    second = {"name": "member.key", "content": "KEY\n", "owner": "etcd", "group": "etcd", "mode": "0600"}
    second.update(overrides)
    return [{"name": "ca.crt", "content": "CA\n", "owner": "root", "group": "root", "mode": "0644"}, second,
            {"name": "member.crt", "content": "CERT\n", "owner": "etcd", "group": "etcd", "mode": "0644"}]


def test_validate_files_resolves_everything():
    files, warnings = fs.validate_files(entries(), FakeAccounts())
    assert warnings == []
    assert [f.name for f in files] == ["ca.crt", "member.key", "member.crt"]
    key = files[1]
    assert key.data == b"KEY\n" and key.meta == fs.Meta(fs.Account(UID + 1, "etcd"), fs.Account(GID + 1, "etcd"), 0o600)
    assert key.digest == hashlib.sha256(b"KEY\n").hexdigest()


def test_validate_files_defaults_running_user_its_group_and_0600():
    files, dummy = fs.validate_files([{"name": "a", "content": "x", "owner": None, "group": None, "mode": None},
                                      {"name": "b", "content": "y", "owner": "etcd"}], FakeAccounts())
    assert files[0].meta == fs.Meta(fs.Account(UID, "root"), fs.Account(GID, "root"), 0o600)
    assert files[1].meta.group == fs.Account(GID + 1, "etcd")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": "pki/member.key"}, "files[1] (pki/member.key): name: 'pki/member.key' contains '/'"),
    ({"name": "ca.crt"}, "files[1] (ca.crt): name: ca.crt is already declared by files[0] (ca.crt)"),
    ({"mode": "0999"}, "files[1] (member.key): mode: '0999' is not an octal mode"),
    ({"mode": 384}, "files[1] (member.key): mode: 384 is not a string"),
    ({"owner": "nobody-here"}, "files[1] (member.key): owner: there is no user 'nobody-here'"),
    ({"group": "nogroup-here"}, "files[1] (member.key): group: there is no group 'nogroup-here'"),
    ({"owner": ""}, "files[1] (member.key): owner: '' is not a user or group"),
    ({"content": None}, "files[1] (member.key): content: a NoneType is not text"),
])
def test_validate_files_names_the_field(overrides, message):
    with pytest.raises(fs.FileSetError) as info:
        fs.validate_files(entries(**overrides), FakeAccounts())
    assert str(info.value).startswith(message)


def test_unknown_owner_is_a_warning_when_allowed():
    files, warnings = fs.validate_files(entries(owner="etcd2", group="etcd2"), FakeAccounts(), allow_unknown=True)
    assert files[1].meta.owner == fs.Account(None, "etcd2") and not files[1].meta.owner.known
    assert len(warnings) == 2 and warnings[0].startswith("files[1] (member.key): owner: there is no user 'etcd2'")
    assert "check mode" in warnings[0]


def test_validate_dir():
    spec, warnings = fs.validate_dir("/etc/etcd/pki/", "root", "etcd", "0750", FakeAccounts())
    assert warnings == []
    assert spec == fs.DirSpec("/etc/etcd/pki", fs.Account(UID, "root"), fs.Account(GID + 1, "etcd"), 0o750)
    assert fs.validate_dir("/x", None, None, None, FakeAccounts())[0] == fs.DirSpec("/x")
    with pytest.raises(fs.FileSetError, match=r"^dir: 'etc/pki' is not an absolute path"):
        fs.validate_dir("etc/pki", None, None, None, FakeAccounts())
    with pytest.raises(fs.FileSetError, match=r"^dir_mode: '75' is not an octal mode"):
        fs.validate_dir("/x", None, None, "75", FakeAccounts())
    with pytest.raises(fs.FileSetError, match=r"^dir_group: there is no group 'etc'"):
        fs.validate_dir("/x", None, "etc", None, FakeAccounts())


def wanted(name="member.key", data=b"KEY\n", owner="etcd", group="etcd", mode=0o600):
    """A WantedFile."""
    return fs.WantedFile(f"files[0] ({name})", name, data, meta(owner, group, mode))


def found(data=b"KEY\n", owner="etcd", group="etcd", mode=0o600, kind="file"):
    """A Found regular file."""
    return fs.Found(kind, meta(owner, group, mode), hashlib.sha256(data).hexdigest() if kind == "file" else None)


def test_plan_file_nothing_to_do():
    action = fs.plan_file(wanted(), found())
    assert action.action == "none" and not action.changed and action.changes == []


def test_plan_file_new():
    action = fs.plan_file(wanted(), None)
    assert (action.action, action.changes) == ("write", ["created"])
    assert action.before == "" and action.after == "member.key: owner etcd, group etcd, mode 0600, content new\n"


def test_plan_file_content_and_mode():
    action = fs.plan_file(wanted(data=b"NEW\n"), found(mode=0o644))
    assert action.action == "write" and ", ".join(action.changes) == "content changed, mode 0644 -> 0600"
    assert action.before == "member.key: owner etcd, group etcd, mode 0644\n"
    assert action.after == "member.key: owner etcd, group etcd, mode 0600, content changed\n"
    assert "KEY" not in action.before + action.after and "NEW" not in action.before + action.after


def test_plan_file_metadata_only_is_an_adjustment():
    action = fs.plan_file(wanted(), found(owner="root", group="root"))
    assert action.action == "adjust"
    assert action.changes == ["owner root -> etcd", "group root -> etcd"]


def test_plan_file_replaces_a_symlink_and_refuses_a_directory():
    action = fs.plan_file(wanted(), found(kind="symlink"))
    assert action.action == "write" and action.changes == ["symlink replaced by a file"]
    with pytest.raises(fs.FileSetError, match=r"files\[0\] \(member.key\): name: member.key is a directory"):
        fs.plan_file(wanted(), found(kind="directory"))


def test_plan_file_unknown_owner_always_changes():
    want = fs.WantedFile("w", "a", b"x", fs.Meta(fs.Account(None, "etcd2"), fs.Account(None, "etcd2"), 0o600))
    have = fs.Found("file", meta(mode=0o600), hashlib.sha256(b"x").hexdigest())
    assert fs.plan_file(want, have).changes == ["owner root -> etcd2", "group root -> etcd2"]


def test_plan_purge_keeps_declared_and_directories():
    present = {"ca.crt": found(), "old.key": found(), "sub": found(kind="directory"), "link": found(kind="symlink")}
    actions = fs.plan_purge(["ca.crt", "link", "old.key", "sub"], ["ca.crt"], present)
    assert [(a.name, a.action) for a in actions] == [("link", "remove"), ("old.key", "remove")]
    assert actions[1].before == "old.key: owner etcd, group etcd, mode 0600\n" and actions[1].after == ""


def test_plan_dir():
    spec = fs.DirSpec("/d", fs.Account(UID, "root"), fs.Account(GID + 1, "etcd"), 0o750)
    assert fs.plan_dir(spec, None) == ["created"]
    have = fs.Found("directory", meta("root", "root", 0o755))
    assert fs.plan_dir(spec, have) == ["group root -> etcd", "mode 0755 -> 0750"]
    assert fs.plan_dir(fs.DirSpec("/d"), have) == []
    with pytest.raises(fs.FileSetError, match=r"^dir: /d is a file, not a directory"):
        fs.plan_dir(spec, found())
    assert fs.dir_text(spec, have, "before") == "directory: owner root, group root, mode 0755\n"
    assert fs.dir_text(spec, have, "after") == "directory: owner root, group etcd, mode 0750\n"
    assert fs.dir_text(fs.DirSpec("/d"), None, "after") == \
        "directory: owner (running user), group (running user's), mode 0700\n"


def test_diff_entry_lists_changed_names_only():
    actions = [fs.plan_file(wanted(), found()), fs.plan_file(wanted(data=b"NEW\n"), found(mode=0o644))]
    diff = fs.diff_entry("/d", "", "", actions)
    assert diff == {"before_header": "/d", "after_header": "/d",
                    "before": "member.key: owner etcd, group etcd, mode 0644\n",
                    "after": "member.key: owner etcd, group etcd, mode 0600, content changed\n"}


# ---- reading and writing real files (owned by the user running the tests)

def own(name="member.key", data=b"KEY\n", mode=0o600):
    """A WantedFile owned by the user running the tests."""
    return fs.WantedFile(f"files[0] ({name})", name, data, fs.Meta(fs.Account(UID, "me"), fs.Account(GID, "me"), mode))


def test_read_entry(tmp_path: Path):
    path = tmp_path / "a"
    path.write_bytes(b"data")
    path.chmod(0o640)
    entry = fs.read_entry(str(path), FakeAccounts())
    assert entry.kind == "file" and entry.meta.mode == 0o640 and entry.meta.owner.id == UID
    assert entry.digest == hashlib.sha256(b"data").hexdigest()
    assert fs.read_entry(str(path), FakeAccounts(), with_digest=False).digest is None
    (tmp_path / "l").symlink_to(path)
    assert fs.read_entry(str(tmp_path / "l"), FakeAccounts()).kind == "symlink"
    assert fs.read_entry(str(tmp_path / "missing"), FakeAccounts()) is None


def test_write_file_is_private_until_renamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "ca.crt").write_text("OLD\n")
    (tmp_path / "ca.crt").chmod(0o666)
    seen = {}
    real_rename = os.rename

    def rename(src, dst):
        info = os.stat(src)
        seen.update(src=os.path.basename(src), mode=stat.S_IMODE(info.st_mode), uid=info.st_uid,
                    data=Path(src).read_bytes(), dst_before=Path(dst).read_bytes())
        real_rename(src, dst)

    monkeypatch.setattr(fs.os, "rename", rename)
    fs.write_file(str(tmp_path), own("ca.crt", b"NEW\n", 0o600))
    # At the rename the temporary file already had its final mode and owner, and held all the data.
    assert seen["mode"] == 0o600 and seen["uid"] == UID and seen["data"] == b"NEW\n"
    assert seen["dst_before"] == b"OLD\n" and seen["src"].startswith(".pki_files.ca.crt.")
    assert (tmp_path / "ca.crt").read_bytes() == b"NEW\n"
    assert stat.S_IMODE((tmp_path / "ca.crt").stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["ca.crt"]


def test_write_file_replaces_a_symlink_not_its_target(tmp_path: Path):
    target = tmp_path / "target"
    target.write_text("keep\n")
    (tmp_path / "member.key").symlink_to(target)
    fs.write_file(str(tmp_path), own())
    assert not (tmp_path / "member.key").is_symlink() and (tmp_path / "member.key").read_bytes() == b"KEY\n"
    assert target.read_text() == "keep\n"


def test_write_file_cleans_up_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def failing(tmp, path):
        raise OSError(28, "No space left on device", tmp)

    with pytest.raises(OSError):
        fs.write_file(str(tmp_path), own(), failing)
    assert os.listdir(tmp_path) == []


def test_adjust_file_and_make_dir(tmp_path: Path):
    path = tmp_path / "member.key"
    path.write_bytes(b"KEY\n")
    path.chmod(0o644)
    fs.adjust_file(str(tmp_path), own(mode=0o600))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes() == b"KEY\n"
    spec = fs.DirSpec(str(tmp_path / "a" / "pki"), fs.Account(UID, "me"), fs.Account(GID, "me"), 0o750)
    fs.make_dir(spec)
    assert stat.S_IMODE((tmp_path / "a" / "pki").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) & 0o755 == 0o755
    fs.make_dir(fs.DirSpec(str(tmp_path / "plain")))
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o700


@pytest.mark.skipif(UID != 0, reason="giving a file to another user needs root")
def test_write_file_gives_the_file_its_owner_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen = {}
    real_rename = os.rename

    def rename(src, dst):
        info = os.stat(src)
        seen.update(uid=info.st_uid, gid=info.st_gid, mode=stat.S_IMODE(info.st_mode))
        real_rename(src, dst)

    monkeypatch.setattr(fs.os, "rename", rename)
    other = fs.Meta(fs.Account(65534, "nobody"), fs.Account(65534, "nogroup"), 0o640)
    fs.write_file(str(tmp_path), fs.WantedFile("w", "member.key", b"KEY\n", other))
    info = (tmp_path / "member.key").stat()
    assert seen == {"uid": 65534, "gid": 65534, "mode": 0o640}
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)


def test_accounts_resolve_the_running_user():
    accounts = fs.Accounts()
    me = accounts.running_user()
    assert me.id == UID
    assert accounts.user(str(UID), "owner").id == UID
    assert accounts.group(str(GID), "group").id == GID
    if me.label != str(UID):
        assert accounts.user(me.label, "owner") == me
    with pytest.raises(fs.UnknownAccount, match=r"^owner: there is no user 'no-such-user-chpk'"):
        accounts.user("no-such-user-chpk", "owner")
    with pytest.raises(fs.UnknownAccount, match=r"^group: there is no group 'no-such-group-chpk'"):
        accounts.group("no-such-group-chpk", "group")
