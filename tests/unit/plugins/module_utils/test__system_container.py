# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for system container deployments: layout, unpacking, unit rendering, decisions and start watching."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _system_container as sc

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
AS_ROOT = os.geteuid() == 0


# ---------------------------------------------------------------------------------------------------------------------
# tar helpers

def entry(name: str, kind: str = "file", data: bytes = b"", mode: int | None = None, link: str = "",
          mtime: int = 1000, uid: int = 0, gid: int = 0) -> tuple[tarfile.TarInfo, bytes | None]:
    """A tar member and its data."""
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid, info.gid = uid, gid
    if kind == "dir":
        info.type = tarfile.DIRTYPE
        info.mode = 0o755 if mode is None else mode
        return info, None
    if kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, link
        info.mode = 0o777
        return info, None
    if kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, link
        info.mode = 0o644
        return info, None
    if kind == "fifo":
        info.type = tarfile.FIFOTYPE
        info.mode = 0o600
        return info, None
    info.size = len(data)
    info.mode = 0o644 if mode is None else mode
    return info, data


def tar_bytes(entries: t.Sequence[tuple[tarfile.TarInfo, bytes | None]], compress: bool = False) -> bytes:
    """A tar archive (optionally gzip) of the entries, in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buffer.getvalue()
    return gzip.compress(raw) if compress else raw


def apply(rootfs: Path, entries: t.Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> int:
    """Apply one layer made of the entries."""
    with tarfile.open(fileobj=io.BytesIO(tar_bytes(entries))) as layer:
        return sc.apply_layer(layer, str(rootfs))


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    path = tmp_path / "rootfs"
    path.mkdir()
    return path


# ---------------------------------------------------------------------------------------------------------------------
# names and deployments

@pytest.mark.parametrize("name", ["etcd", "etcd-1", "a.b_c", "E9"])
def test_valid_names(name):
    assert sc.validate_name(name) == name


@pytest.mark.parametrize("name", ["", "-etcd", "etc d", "a/b", "a:b", "x" * 129, None, "etcd.service"])
def test_invalid_names(name):
    with pytest.raises(sc.ContainerError, match="name: "):
        sc.validate_name(name)


def test_deployment_ids_number_and_order():
    assert sc.deployment_id(DIGEST_A, 3) == "aaaaaaaaaaaa-3"
    assert sc.deployment_number("aaaaaaaaaaaa-12") == 12
    assert sc.deployment_number("not-an-id") == 0
    assert sc.next_number(["aaaaaaaaaaaa-2", "bbbbbbbbbbbb-10", "junk"]) == 11
    assert sc.next_number([]) == 1


def test_layout_links_switch_atomically_and_ignore_foreign_targets(tmp_path):
    layout = sc.Layout(str(tmp_path), "etcd")
    for identifier in ("aaaaaaaaaaaa-1", "bbbbbbbbbbbb-10", "aaaaaaaaaaaa-2"):
        os.makedirs(layout.deployment(identifier))
    (Path(layout.deployments) / ".new-x").mkdir()
    assert layout.list_deployments() == ["aaaaaaaaaaaa-1", "aaaaaaaaaaaa-2", "bbbbbbbbbbbb-10"]
    assert layout.read_link("current") is None
    sc.switch_link(layout, "current", "aaaaaaaaaaaa-1")
    sc.switch_link(layout, "current", "bbbbbbbbbbbb-10")
    assert os.readlink(layout.link("current")) == "deployments/bbbbbbbbbbbb-10"
    assert layout.read_link("current") == "bbbbbbbbbbbb-10"
    assert not [name for name in os.listdir(layout.base) if ".tmp-" in name]
    sc.switch_link(layout, "current", None)
    assert not os.path.lexists(layout.link("current"))
    sc.switch_link(layout, "current", None)
    os.symlink("/etc", layout.link("previous"))
    assert layout.read_link("previous") is None
    assert layout.bundle() == os.path.join(str(tmp_path), "etcd", "current")


def test_json_files_round_trip_with_mode(tmp_path):
    path = tmp_path / "info.json"
    sc.write_json(str(path), {"b": 1, "a": [1, 2]}, mode=0o600)
    assert sc.read_json(str(path)) == {"a": [1, 2], "b": 1}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("[1]")
    assert sc.read_json(str(path)) is None
    assert sc.read_json(str(tmp_path / "missing")) is None


def ids(*numbers: int) -> list[str]:
    """Deployment IDs with these numbers."""
    return [f"{'c' * 12}-{number}" for number in numbers]


@pytest.mark.parametrize("keep, current, previous, kept", [
    (2, 5, 4, [5, 4]),
    (3, 5, 4, [5, 4, 3]),
    (1, 5, 4, [5]),
    # After a rollback the current deployment is older than the previous one.
    (2, 3, 5, [3, 5]),
    (3, 3, 5, [3, 5, 4]),
    (2, None, None, [5, 4]),
])
def test_keep_set(keep, current, previous, kept):
    identifiers = ids(1, 2, 3, 4, 5)
    current_id = ids(current)[0] if current else None
    previous_id = ids(previous)[0] if previous else None
    assert sc.keep_set(identifiers, keep, current_id, previous_id) == ids(*kept)
    assert sc.prune_list(identifiers, keep, current_id, previous_id) == [i for i in identifiers if i not in ids(*kept)]


# ---------------------------------------------------------------------------------------------------------------------
# unpacking

def test_secure_join_keeps_every_path_inside_the_root(rootfs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (rootfs / "usr/lib").mkdir(parents=True)
    os.symlink("/", rootfs / "abs-root")
    os.symlink(str(outside), rootfs / "abs-outside")
    os.symlink("../../../..", rootfs / "up")
    os.symlink("usr/lib", rootfs / "lib")
    os.symlink("loop", rootfs / "loop")
    root = str(rootfs)
    assert sc.secure_join(root, "abs-root/etc/passwd") == f"{root}/etc/passwd"
    assert sc.secure_join(root, "abs-outside/file") == f"{root}{outside}/file"
    assert sc.secure_join(root, "up/etc") == f"{root}/etc"
    assert sc.secure_join(root, "../../etc") == f"{root}/etc"
    assert sc.secure_join(root, "lib/x.so") == f"{root}/usr/lib/x.so"
    # The last component is not followed unless asked.
    assert sc.secure_join(root, "lib") == f"{root}/lib"
    assert sc.secure_join(root, "lib", follow_last=True) == f"{root}/usr/lib"
    with pytest.raises(sc.UnpackError, match="too many symbolic links"):
        sc.secure_join(root, "loop", follow_last=True)


@pytest.mark.parametrize("name, expected", [("./a/b", "a/b"), ("/etc//x/", "etc/x"), ("./", ""), (".", "")])
def test_clean_member_path(name, expected):
    assert sc.clean_member_path(name) == expected


def test_clean_member_path_refuses_dotdot():
    with pytest.raises(sc.UnpackError, match=r"leaves the root filesystem"):
        sc.clean_member_path("a/../../etc/passwd")


def test_layers_with_files_links_whiteouts_and_opaque_directories(rootfs):
    written = apply(rootfs, [
        entry("./", "dir"),
        entry("etc/", "dir"),
        entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
        entry("etc/old.conf", data=b"old\n"),
        entry("usr/bin/", "dir"),
        entry("usr/bin/tool", data=b"#!/bin/sh\n", mode=0o4755),
        entry("usr/bin/alias", "hardlink", link="usr/bin/tool"),
        entry("bin", "symlink", link="usr/bin"),
        entry("var/cache/", "dir", mode=0o700),
        entry("var/cache/a", data=b"a"),
        entry("var/cache/b", data=b"b"),
        entry("run/fifo", "fifo"),
    ])
    assert written == 11
    assert (rootfs / "etc/passwd").read_text().startswith("root:")
    assert stat.S_IMODE((rootfs / "usr/bin/tool").stat().st_mode) == 0o4755
    assert (rootfs / "usr/bin/alias").stat().st_ino == (rootfs / "usr/bin/tool").stat().st_ino
    assert os.readlink(rootfs / "bin") == "usr/bin"
    assert stat.S_ISFIFO((rootfs / "run/fifo").lstat().st_mode)
    assert stat.S_IMODE((rootfs / "var/cache").stat().st_mode) == 0o700
    assert (rootfs / "etc/passwd").stat().st_mtime == 1000
    # Layer 2: a whiteout removes a file, an opaque marker empties a directory (before this layer's own entries),
    # a file replaces a directory, and a file in a symlinked directory lands where the link points.
    apply(rootfs, [
        entry("etc/.wh.old.conf"),
        entry("var/cache/c", data=b"c"),
        entry("var/cache/.wh..wh..opq"),
        entry("usr/bin/tool", data=b"new"),
        entry("bin/added", data=b"via link"),
        entry("run/fifo/", "dir"),
    ])
    assert not (rootfs / "etc/old.conf").exists()
    assert sorted(os.listdir(rootfs / "var/cache")) == ["c"]
    assert (rootfs / "usr/bin/tool").read_bytes() == b"new"
    assert (rootfs / "usr/bin/added").read_text() == "via link"
    assert (rootfs / "run/fifo").is_dir()
    # The hard link made in layer 1 keeps the old content: layer 2 replaced the file, not the inode.
    assert (rootfs / "usr/bin/alias").read_text() == "#!/bin/sh\n"


def test_a_whiteout_of_a_directory_removes_the_tree(rootfs):
    apply(rootfs, [entry("opt/app/", "dir"), entry("opt/app/x", data=b"x")])
    apply(rootfs, [entry("opt/.wh.app")])
    assert os.listdir(rootfs / "opt") == []


def test_layers_cannot_write_outside_the_root(rootfs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("keep")
    apply(rootfs, [entry("escape", "symlink", link=str(outside)), entry("rel", "symlink", link="../../outside"),
                   entry("file-link", "symlink", link=str(outside / "target"))])
    apply(rootfs, [entry("escape/new", data=b"x"), entry("rel/new2", data=b"y"),
                   entry("file-link", data=b"replaced")])
    assert sorted(os.listdir(outside)) == ["target"]
    assert (outside / "target").read_text() == "keep"
    assert (rootfs / str(outside).lstrip("/") / "new").read_bytes() == b"x"
    assert (rootfs / "outside/new2").read_bytes() == b"y"
    # The symlink itself was replaced by the file, nothing was written through it.
    assert not (rootfs / "file-link").is_symlink() and (rootfs / "file-link").read_bytes() == b"replaced"
    with pytest.raises(sc.UnpackError, match="leaves the root filesystem"):
        apply(rootfs, [entry("../evil", data=b"x")])
    with pytest.raises(sc.UnpackError, match="leaves the root filesystem"):
        apply(rootfs, [entry("link", "hardlink", link="../outside/target")])
    with pytest.raises(sc.UnpackError, match="is not a file in the root filesystem"):
        apply(rootfs, [entry("link", "hardlink", link="missing")])


def test_whiteouts_do_not_follow_links_out_of_the_root(rootfs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep")
    apply(rootfs, [entry("escape", "symlink", link=str(outside))])
    apply(rootfs, [entry("escape/.wh.victim"), entry("escape/.wh..wh..opq")])
    assert (outside / "victim").read_text() == "keep"


def test_a_file_where_a_directory_is_needed_is_refused(rootfs):
    apply(rootfs, [entry("etc", data=b"not a dir")])
    with pytest.raises(sc.UnpackError, match="etc is not a directory"):
        apply(rootfs, [entry("etc/passwd", data=b"x")])


@pytest.mark.skipif(not AS_ROOT, reason="owners can only be set as root")
def test_owners_are_numeric_from_the_layer(rootfs):
    apply(rootfs, [entry("home/u/", "dir", uid=1000, gid=1000), entry("home/u/f", data=b"x", uid=1000, gid=50)])
    info = (rootfs / "home/u/f").stat()
    assert (info.st_uid, info.st_gid) == (1000, 50)
    assert (rootfs / "home/u").stat().st_uid == 1000


def make_layout(directory: Path, layers: t.Sequence[bytes], config: dict[str, t.Any]) -> None:
    """An OCI image layout with one image."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    layer_descriptors = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(layer),
                          "size": len(layer)} for layer in layers]
    config_bytes = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config_bytes),
                           "size": len(config_bytes)}, "layers": layer_descriptors}
    manifest_digest = blob(json.dumps(manifest).encode())
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest}]}))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def test_unpack_layout_applies_layers_in_order(tmp_path):
    layout_dir = tmp_path / "layout"
    config = {"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/bin/app"]}}
    make_layout(layout_dir, [
        tar_bytes([entry("bin/app", data=b"v1", mode=0o755), entry("etc/a", data=b"a")], compress=True),
        tar_bytes([entry("bin/app", data=b"v2", mode=0o755), entry("etc/.wh.a")], compress=False),
    ], config)
    rootfs = tmp_path / "rootfs"
    assert sc.unpack_layout(str(layout_dir), str(rootfs)) == config
    assert (rootfs / "bin/app").read_bytes() == b"v2"
    assert not (rootfs / "etc/a").exists()
    assert stat.S_IMODE(rootfs.stat().st_mode) == 0o755


def test_zstd_layers_and_foreign_media_types_are_refused(tmp_path):
    layer = tmp_path / "layer"
    layer.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(sc.UnpackError, match="zstd-compressed"):
        sc.open_layer(str(layer))
    layer.write_bytes(b"not a tar at all" * 40)
    with pytest.raises(sc.UnpackError, match="is not a tar archive"):
        sc.open_layer(str(layer))
    layout_dir = tmp_path / "layout"
    make_layout(layout_dir, [b"x"], {"config": {}})
    manifest_path = next(p for p in (layout_dir / "blobs/sha256").iterdir() if b'"layers"' in p.read_bytes())
    manifest = json.loads(manifest_path.read_text())
    manifest["layers"][0]["mediaType"] = "application/vnd.example.foreign"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(sc.UnpackError, match="not a filesystem layer"):
        sc.read_layout(str(layout_dir))
    (layout_dir / "index.json").write_text('{"manifests": []}')
    with pytest.raises(sc.UnpackError, match="holds 0 images"):
        sc.read_layout(str(layout_dir))


def test_clone_tree_shares_files_and_copies_directories_and_links(tmp_path):
    source = tmp_path / "a"
    apply_root = source
    source.mkdir()
    apply(apply_root, [entry("etc/", "dir", mode=0o750), entry("etc/f", data=b"x"),
                       entry("lib", "symlink", link="usr/lib"), entry("usr/lib/", "dir"),
                       entry("usr/lib/x.so", data=b"so")])
    destination = tmp_path / "b"
    sc.clone_tree(str(source), str(destination))
    assert (destination / "etc/f").stat().st_ino == (source / "etc/f").stat().st_ino
    assert os.readlink(destination / "lib") == "usr/lib"
    assert stat.S_IMODE((destination / "etc").stat().st_mode) == 0o750
    assert (destination / "etc").stat().st_ino != (source / "etc").stat().st_ino
    assert (destination / "etc").stat().st_mtime == (source / "etc").stat().st_mtime


def test_read_rootfs_files(rootfs):
    apply(rootfs, [entry("exports/config.json.template", data=b'{"process": {}}'),
                   entry("exports/bad.json", data=b"{"),
                   entry("exports/link", "symlink", link="/exports/config.json.template")])
    assert sc.read_rootfs_json(str(rootfs), "exports/config.json.template") == {"process": {}}
    assert sc.read_rootfs_json(str(rootfs), "exports/link") == {"process": {}}
    assert sc.read_rootfs_json(str(rootfs), "exports/missing.json") is None
    assert sc.read_rootfs_text(str(rootfs), "exports") is None
    with pytest.raises(sc.ContainerError, match="/exports/bad.json is not valid JSON"):
        sc.read_rootfs_json(str(rootfs), "exports/bad.json")


# ---------------------------------------------------------------------------------------------------------------------
# the unit

@pytest.mark.parametrize("argument, expected", [
    ("/usr/bin/etcd", "/usr/bin/etcd"),
    ("--name=h1", "--name=h1"),
    ("a b", '"a b"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("50%", "50%%"),
    ("$HOME", "$$HOME"),
    (";", '";"'),
    ("", '""'),
    ("it's", '"it\'s"'),
    (sc.CIDFILE_OPTION, "--cidfile=%t/%n.ctr-id"),
])
def test_exec_quote(argument, expected):
    assert sc.exec_quote(argument) == expected


def test_exec_quote_refuses_control_characters():
    with pytest.raises(sc.ContainerError, match="control character"):
        sc.exec_quote("a\nb")


def test_oci_service_runs_the_bundle_in_the_foreground():
    service = sc.oci_service("/usr/sbin/runc", "etcd", "/srv/sc/etcd/current")
    assert service == {
        "Type": "simple",
        "KillMode": "mixed",
        "ExecStartPre": "-/usr/sbin/runc delete --force etcd",
        "ExecStart": "/usr/sbin/runc run --bundle /srv/sc/etcd/current etcd",
        "ExecStopPost": "-/usr/sbin/runc delete --force etcd",
    }


def test_podman_argv_and_service():
    argv = sc.podman_run_argv(podman="/usr/bin/podman", name="etcd", image=f"reg.example:5000/etcd@{DIGEST_A}",
                              label="s0:c1,c2", network="host", env={"A": "1 2"},
                              ro_binds={"/etc/pki": "/etc/pki"}, rw_binds={"/var/lib/e": "/var/lib/etcd"},
                              command=["/usr/bin/etcd", "--debug"], hostname="h", runtime="/usr/bin/crun")
    assert argv == ["/usr/bin/podman", "--runtime", "/usr/bin/crun", "run", "--cidfile=%t/%n.ctr-id",
                    "--cgroups=split", "--rm", "--sdnotify=conmon", "--detach", "--replace", "--name", "etcd",
                    "--read-only", "--network", "host", "--security-opt", "label=level:s0:c1,c2", "--hostname", "h",
                    "--env", "A=1 2", "--volume", "/etc/pki:/etc/pki:ro", "--volume", "/var/lib/e:/var/lib/etcd:rw",
                    "--entrypoint", "/usr/bin/etcd", f"reg.example:5000/etcd@{DIGEST_A}", "--debug"]
    service = sc.podman_service("/usr/bin/podman", argv, "/usr/bin/rm")
    assert service["ExecStart"].startswith("/usr/bin/podman --runtime /usr/bin/crun run --cidfile=%t/%n.ctr-id ")
    assert '--env "A=1 2"' in service["ExecStart"]
    assert service["ExecStartPre"] == "/usr/bin/rm -f %t/%n.ctr-id"
    assert service["ExecStop"] == "/usr/bin/podman stop --ignore -t 10 --cidfile=%t/%n.ctr-id"
    assert service["Type"] == "notify" and service["NotifyAccess"] == "all"
    # A command kept as JSON (plain strings) renders the same line again.
    assert sc.podman_service("/usr/bin/podman", json.loads(json.dumps(argv)), "/usr/bin/rm") == service


def test_unit_sections_carry_dependencies_slice_limits_and_install():
    sections = sc.unit_sections(description="etcd", service={"Type": "simple"}, slice_name="infra.slice",
                                limits={"MemoryMax": "268435456", "TasksMax": "128"}, after=["a.service"],
                                before=["b.service"], requires=["c.service"],
                                wants=["network-online.target", "d.mount"],
                                restart="always", restart_sec=3)
    assert sections["Unit"] == {"Description": "etcd", "Wants": "network-online.target d.mount",
                                "After": "network-online.target a.service", "Before": "b.service",
                                "Requires": "c.service"}
    assert sections["Service"] == {"Type": "simple", "Slice": "infra.slice", "Delegate": "yes", "Restart": "always",
                                   "RestartSec": "3s", "TimeoutStopSec": "70", "MemoryMax": "268435456",
                                   "TasksMax": "128"}
    assert sections["Install"] == {"WantedBy": "multi-user.target"}
    podman = sc.unit_sections(description="x", service={}, slice_name="system.slice", limits={}, backend="podman")
    assert podman["Unit"]["RequiresMountsFor"] == "%t/containers"


def test_restart_relevant_ignores_limits_and_unit_section():
    text = "# c\n[Unit]\nDescription=a\n[Service]\nExecStart=/x\nMemoryMax=1\nExecStartPre=-a\nExecStartPre=-b\n"
    parsed = sc.parse_unit_sections(text)
    assert parsed["Service"]["ExecStartPre"] == "-a\n-b"
    other = sc.parse_unit_sections(text.replace("MemoryMax=1", "MemoryMax=2").replace("Description=a", "Description=b"))
    assert sc.restart_relevant(parsed, ["MemoryMax"]) == sc.restart_relevant(other, ["MemoryMax"])
    moved = sc.parse_unit_sections(text.replace("ExecStart=/x", "ExecStart=/y"))
    assert sc.restart_relevant(parsed, ["MemoryMax"]) != sc.restart_relevant(moved, ["MemoryMax"])
    assert sc.restart_relevant(None, []) == {}


# ---------------------------------------------------------------------------------------------------------------------
# decisions

CURRENT = {"id": "aaaaaaaaaaaa-1", "digest": DIGEST_A}
PREVIOUS = {"id": "bbbbbbbbbbbb-2", "digest": DIGEST_B}


@pytest.mark.parametrize("state, current, previous, digest, cur_ok, prev_ok, marker, action, clone", [
    ("absent", CURRENT, None, None, False, False, None, "none", None),
    ("started", None, None, DIGEST_A, False, False, None, "new", None),
    ("started", CURRENT, None, DIGEST_A, True, False, None, "none", None),
    ("present", CURRENT, None, DIGEST_A, False, False, None, "new", "aaaaaaaaaaaa-1"),
    ("started", CURRENT, PREVIOUS, DIGEST_B, False, True, None, "switch_previous", None),
    ("started", CURRENT, PREVIOUS, DIGEST_B, False, False, None, "new", "bbbbbbbbbbbb-2"),
    ("started", CURRENT, PREVIOUS, "sha256:" + "c" * 64, False, False, None, "new", None),
    ("stopped", CURRENT, None, None, False, False, None, "none", None),
    ("started", CURRENT, None, None, False, False, None, "none", None),
    ("rollback", CURRENT, PREVIOUS, None, False, False, None, "rollback", None),
    ("rollback", CURRENT, PREVIOUS, None, False, False, "bbbbbbbbbbbb-2", "none", None),
    # After a rollback and a new deployment, the marker names another deployment: roll back again.
    ("rollback", CURRENT, PREVIOUS, None, False, False, "cccccccccccc-9", "rollback", None),
    ("rollback", CURRENT, None, None, False, False, "bbbbbbbbbbbb-2", "none", None),
])
def test_decide_deployment(state, current, previous, digest, cur_ok, prev_ok, marker, action, clone):
    decision = sc.decide_deployment(state=state, current=current, previous=previous, desired_digest=digest,
                                    current_matches=cur_ok, previous_matches=prev_ok, rolled_back_from=marker)
    assert (decision.action, decision.clone_from) == (action, clone)
    assert decision.switches is (action != "none")


@pytest.mark.parametrize("state, current, previous, message", [
    ("rollback", None, None, "nothing is installed under this name"),
    ("rollback", CURRENT, None, "aaaaaaaaaaaa-1 has no previous deployment"),
    ("started", None, None, "image: required with state=started"),
    ("present", None, None, "image: required with state=present"),
])
def test_decide_deployment_refuses(state, current, previous, message):
    with pytest.raises(sc.ContainerError, match=message):
        sc.decide_deployment(state=state, current=current, previous=previous, desired_digest=None,
                             current_matches=False, previous_matches=False)


@pytest.mark.parametrize("state, active, switched, settings, expected", [
    ("started", "inactive", False, False, "start"),
    ("started", "activating/auto-restart", False, False, "start"),
    ("started", "activating/start", False, False, None),
    ("stopped", "activating/auto-restart", False, False, "stop"),
    ("started", "failed", True, False, "start"),
    ("started", "active", False, False, None),
    ("started", "active", True, False, "restart"),
    ("started", "active", False, True, "restart"),
    ("rollback", "active", True, False, "restart"),
    ("rollback", "inactive", False, False, "start"),
    ("present", "inactive", True, True, None),
    ("present", "active", True, False, "restart"),
    ("present", "active", False, False, None),
    ("stopped", "active", True, False, "stop"),
    ("stopped", "inactive", True, False, None),
    ("absent", "activating", False, False, "stop"),
    ("absent", "failed", False, False, None),
])
def test_decide_service(state, active, switched, settings, expected):
    active_state, _sep, sub_state = active.partition("/")
    assert sc.decide_service(state=state, active_state=active_state, sub_state=sub_state, switched=switched,
                             restart_settings_changed=settings) == expected


# ---------------------------------------------------------------------------------------------------------------------
# waiting for a start

class FakeClock:
    """Time that moves only when slept."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def sequence(*states: dict[str, str]) -> t.Callable[[], dict[str, str]]:
    """observe() returning the states in order, then the last one forever."""
    items = list(states)

    def observe() -> dict[str, str]:
        return items.pop(0) if len(items) > 1 else items[0]
    return observe


UP = {"ActiveState": "active", "SubState": "running", "InvocationID": "i1", "MainPID": "10", "NRestarts": "0"}


def watch(observe, health=None, timeout=30, stable=5):
    clock = FakeClock()
    ok, how = sc.watch_start(observe, clock=clock, sleep=clock.sleep, timeout=timeout, stable_seconds=stable,
                             health=health)
    return ok, how, clock.now


def test_up_after_staying_active_long_enough():
    assert watch(sequence(UP)) == (True, "active for 5s", 5.0)


def test_a_new_invocation_restarts_the_stable_period():
    second = {**UP, "InvocationID": "i2", "MainPID": "11"}
    ok, dummy, elapsed = watch(sequence(UP, UP, second))
    assert ok and elapsed == 7.0


def test_healthy_when_the_health_check_passes_and_the_unit_is_still_the_same():
    answers = [(False, "connection refused"), (False, "connection refused"), (True, "127.0.0.1:2379 is healthy")]
    ok, how, elapsed = watch(sequence(UP), health=lambda: answers.pop(0))
    assert ok and how == "active and healthy (127.0.0.1:2379 is healthy)" and elapsed == 2.0


def test_a_crash_loop_fails_at_once():
    crashed = {**UP, "ActiveState": "activating", "SubState": "auto-restart", "Result": "exit-code",
               "ExecMainStatus": "1", "NRestarts": "1"}
    ok, how, elapsed = watch(sequence(UP, crashed))
    assert not ok and elapsed == 1.0
    assert how == ("the container exited and systemd is restarting it (ActiveState=activating, SubState=auto-restart, "
                   "Result=exit-code, exit status 1)")


def test_more_restarts_than_at_the_start_fail():
    ok, how, dummy = watch(sequence(UP, {**UP, "InvocationID": "i2", "NRestarts": "1"}))
    assert not ok and "restarting it" in how


def test_failed_and_exited_units_fail():
    failed = {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code", "ExecMainStatus": "125"}
    assert watch(sequence(failed))[:2] == (False, "the unit failed (ActiveState=failed, SubState=failed, "
                                                  "Result=exit-code, exit status 125)")
    exited = {"ActiveState": "inactive", "SubState": "dead", "Result": "success", "ExecMainStatus": "0"}
    ok, how, dummy = watch(sequence(UP, exited))
    assert not ok and how.startswith("the container exited (ActiveState=inactive")


def test_timeout_names_the_last_health_check():
    ok, how, elapsed = watch(sequence(UP), health=lambda: (False, "context deadline exceeded"), timeout=3)
    assert not ok and elapsed == 3.0
    assert how == ("not up after 3s (ActiveState=active, SubState=running, Result=, exit status ?); "
                   "last health check: context deadline exceeded")


def test_a_unit_still_activating_times_out():
    starting = {"ActiveState": "activating", "SubState": "start", "NRestarts": "0"}
    ok, how, elapsed = watch(sequence(starting), timeout=4)
    assert not ok and how.startswith("not up after 4s (ActiveState=activating") and elapsed == 4.0


def test_is_enabled():
    assert sc.is_enabled("enabled") and sc.is_enabled("linked-runtime")
    assert not sc.is_enabled("disabled") and not sc.is_enabled(None) and not sc.is_enabled("static")
