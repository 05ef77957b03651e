# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.image module, run through main() against a fake podman, skopeo and
registry that answer the way the real tools do (messages taken from real runs); plus real skopeo copies between OCI
and dir layouts on the controller."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import typing as t

from pathlib import Path

import pytest

from ansible.module_utils import basic

from ansible_collections.containerhost.platform.plugins.module_utils._registry_auth import basic_auth
from ansible_collections.containerhost.platform.plugins.modules import image as image_module

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "images"
REG = "registry.example:5000"
PASSWORD = "s3cr3t-Pa55-word"
KEY = "C0495C26789FBCA353AE117D0C038CA08C444C83"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeWorld:
    """Local storage, one registry and a keyring, driven by podman/skopeo/gpg argv like the real tools."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        # image ID -> {"names": [...], "digests": set(), "repos": set(), "created": str}
        self.local: dict[str, dict[str, t.Any]] = {}
        # "registry/repo" -> {tag: raw manifest}
        self.registry: dict[str, dict[str, str]] = {}
        self.blobs: dict[str, str] = {}
        self.calls: list[list[str]] = []
        self.auth: tuple[str, str] | None = None
        self.refused: set[str] = set()
        self.secret_keys = {KEY}
        self.auth_files_seen: list[str] = []

    # ---- set-up helpers
    def add_local(self, image_id: str, names: list[str], created: str = "2026-01-01T00:00:00Z") -> None:
        self.local[image_id] = {"names": list(names), "digests": {sha(f"local-{image_id}")},
                                "repos": {name.rsplit(":", 1)[0] for name in names}, "created": created}

    def manifest_for(self, image_id: str, salt: str = "") -> str:
        return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": f"sha256:{image_id}", "size": 100},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": sha(f"layer-{image_id}{salt}"), "size": 1000}]})

    def put_remote(self, ref: str, image_id: str, salt: str = "") -> str:
        repo, tag = ref.rsplit(":", 1)
        raw = self.manifest_for(image_id, salt)
        self.registry.setdefault(repo, {})[tag] = raw
        return sha(raw)

    def remote_raw(self, name: str) -> str | None:
        if "@" in name:
            repo, digest = name.split("@")
            return next((raw for raw in self.registry.get(repo, {}).values() if sha(raw) == digest), None)
        repo, tag = name.rsplit(":", 1)
        return self.registry.get(repo, {}).get(tag)

    def find_local(self, name: str) -> str | None:
        if "@" in name:
            repo, digest = name.split("@")
            return next((i for i, img in self.local.items() if digest in img["digests"] and repo in img["repos"]), None)
        if len(name) >= 12 and all(c in "0123456789abcdef" for c in name):
            return next((i for i in self.local if i.startswith(name)), None)
        return next((i for i, img in self.local.items() if name in img["names"]), None)

    def names_snapshot(self) -> dict[str, list[str]]:
        return {i: sorted(img["names"]) for i, img in self.local.items()}

    # ---- the tools
    def _authorised(self, argv: list[str]) -> bool:
        if self.auth is None:
            return True
        if "--authfile" not in argv:
            return False
        path = argv[argv.index("--authfile") + 1]
        self.auth_files_seen.append(path)
        assert (os.stat(path).st_mode & 0o777) == 0o600
        auths = json.loads(Path(path).read_text())["auths"]
        return auths.get(REG, {}).get("auth") == basic_auth(*self.auth)

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        assert isinstance(argv, list)
        self.calls.append(list(argv))
        tool = os.path.basename(argv[0])
        return getattr(self, f"_{tool}")(argv[1:])

    def _gpg(self, args: list[str]) -> tuple[int, str, str]:
        if "--verify" in args:
            # A staged signature verifies when its bytes are the ones the test wrote as good.
            good = Path(args[-1]).read_bytes() == b"good signature"
            status = (f"[GNUPG:] GOODSIG 0C038CA08C444C83 signer\n[GNUPG:] VALIDSIG {KEY} 2026-11-23 1 0 4 0 1 10 00 "
                      f"{KEY}\n") if good else "[GNUPG:] BADSIG 0C038CA08C444C83 signer\n"
            return (0 if good else 1), status, ""
        key = args[-1]
        if key in self.secret_keys:
            return 0, f"sec:u:2048:1:{key}:\n", ""
        return 2, "", "gpg: error reading key: No secret key\n"

    def _podman(self, args: list[str]) -> tuple[int, str, str]:
        verb = args[0]
        if args[:2] == ["image", "inspect"]:
            names = args[3:]
            found, errors = [], []
            for name in names:
                image_id = self.find_local(name)
                if image_id is None:
                    errors.append(name)
                elif image_id not in [item["Id"] for item in found]:
                    img = self.local[image_id]
                    digest = sorted(img["digests"])[0]
                    found.append({"Id": image_id, "Digest": digest, "RepoTags": list(img["names"]),
                                  "RepoDigests": [f"{repo}@{d}" for repo in sorted(img["repos"])
                                                  for d in sorted(img["digests"])],
                                  "Created": img["created"], "Config": {"Cmd": ["/bin/sh"]}, "Architecture": "amd64",
                                  "Os": "linux", "Size": 1234, "RootFS": {"Layers": [sha(f"diff-{image_id}")]}})
            err = "".join(f"error inspecting object: {name}: image not known\n" for name in errors[:-1])
            if errors:
                err += f"Error: inspecting object: {errors[-1]}: image not known\n"
            return (125 if errors else 0), json.dumps(found, indent=5), err
        if verb == "pull":
            name = args[-1]
            if not self._authorised(args):
                return 125, "", (f"Trying to pull {name}...\nError: initializing source docker://{name}: reading "
                                 f"manifest in {name}: unauthorized: authentication required\n")
            if name in self.refused:
                return 125, "", (f"Trying to pull {name}...\nError: Source image rejected: A signature was "
                                 "required, but no signature exists\n")
            raw = self.remote_raw(name)
            if raw is None:
                return 125, "", f"Error: initializing source docker://{name}: manifest unknown: manifest unknown\n"
            image_id = json.loads(raw)["config"]["digest"][7:]
            fresh = {"names": [], "digests": set(), "repos": set(), "created": "2026-01-01T00:00:00Z"}
            img = self.local.setdefault(image_id, fresh)
            repo = name.split("@")[0].rsplit(":", 1)[0] if "@" not in name else name.split("@")[0]
            if "@" not in name:
                for other in self.local.values():
                    if name in other["names"]:
                        other["names"].remove(name)
                img["names"].append(name)
            img["digests"].add(sha(raw))
            img["repos"].add(repo)
            return 0, f"{image_id}\n", ""
        if verb == "tag":
            image_id = self.find_local(args[1])
            assert image_id, args
            for target in args[2:]:
                for other in self.local.values():
                    if target in other["names"]:
                        other["names"].remove(target)
                self.local[image_id]["names"].append(target)
                self.local[image_id]["repos"].add(target.rsplit(":", 1)[0])
            return 0, "", ""
        if verb == "untag":
            image_id = self.find_local(args[1])
            names = args[2:] or list(self.local[image_id]["names"])
            for name in names:
                self.local[image_id]["names"].remove(name)
            return 0, "", ""
        if verb == "rmi":
            image_id = self.find_local(args[-1])
            if image_id is None:
                return 1, "", f"Error: {args[-1]}: image not known\n"
            img = self.local[image_id]
            if args[-1] in img["names"] and len(img["names"]) > 1:
                img["names"].remove(args[-1])
            else:
                del self.local[image_id]
            return 0, "", ""
        if verb == "push":
            target = args[-1]
            image_id = self.find_local(target)
            if image_id is None:
                return 125, "", f"Error: {target}: image not known\n"
            if not self._authorised(args):
                return 125, "", ("Error: trying to reuse blob at destination: checking whether a blob exists in "
                                 f"{target}: unauthorized: authentication required\n")
            digest = self.put_remote(target, image_id, salt="-pushed")
            Path(args[args.index("--digestfile") + 1]).write_text(digest)
            return 0, "", ""
        raise AssertionError(f"unexpected podman call {args}")

    def _skopeo(self, args: list[str]) -> tuple[int, str, str]:
        verb = args[0]
        ref = args[-1]
        name = ref[len("docker://"):]
        if verb in ("inspect", "list-tags", "delete") and not self._authorised(args):
            return 1, "", (f'time="x" level=fatal msg="Error parsing image name \\"{ref}\\": reading manifest in '
                           f'{name}: unauthorized: authentication required"\n')
        if verb == "inspect" and "--raw" in args:
            raw = self.remote_raw(name)
            if raw is None:
                return 1, "", (f'time="x" level=fatal msg="Error parsing image name \\"{ref}\\": reading manifest '
                               f'in {name}: manifest unknown: manifest unknown"\n')
            return 0, raw, ""
        if verb == "list-tags":
            return 0, json.dumps({"Repository": name, "Tags": sorted(self.registry.get(name, {}))}), ""
        if verb == "delete":
            repo, tag = name.rsplit(":", 1)
            digest = sha(self.registry[repo][tag])
            self.registry[repo] = {k: v for k, v in self.registry[repo].items() if sha(v) != digest}
            return 0, "", ""
        if verb == "copy":
            source, dest = args[-2][len("docker://"):], args[-1][len("docker://"):]
            raw = self.remote_raw(source)
            repo, tag = dest.rsplit(":", 1)
            self.registry.setdefault(repo, {})[tag] = raw
            Path(args[args.index("--digestfile") + 1]).write_text(sha(raw))
            return 0, "", ""
        raise AssertionError(f"unexpected skopeo call {args}")

    def verbs(self, tool: str = "podman") -> list[str]:
        return [" ".join(call[1:3]) if call[1] == "image" else call[1] for call in self.calls
                if os.path.basename(call[0]) == tool]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeWorld:
    fake = FakeWorld(tmp_path)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: fake.run_command(argv, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: f"/usr/bin/{name}")
    monkeypatch.setattr(image_module, "REGISTRIES_D", str(tmp_path / "registries.d"))
    return fake


@pytest.fixture
def run(set_module_args, module_exits):
    """Run the module with arguments; returns the result (or the failure with ``failed``)."""

    def _run(args: dict[str, t.Any], check: bool = False, diff: bool = False) -> dict[str, t.Any]:
        set_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff})
        try:
            image_module.main()
        except module_exits.exit as exc:
            return exc.result
        except module_exits.fail as exc:
            return exc.result
        raise AssertionError("the module neither exited nor failed")

    return _run


def three_ways(run: t.Callable, args: dict[str, t.Any]) -> tuple[dict, dict, dict]:
    """Check mode, real, again."""
    return run(args, check=True, diff=True), run(args, diff=True), run(args)


def actions(result: dict) -> list[list[str]]:
    return [entry["actions"] for entry in result["images"]]


# ---- podman

def test_present_pulls_once_and_check_mode_predicts_it(world, run):
    world.put_remote(f"{REG}/app:1", "a" * 64)
    world.put_remote(f"{REG}/tool:2", "b" * 64)
    world.add_local("c" * 64, [f"{REG}/base:1"])
    args = {"images": [{"name": f"{REG}/app:1"}, {"name": f"docker://{REG}/tool:2"}, {"name": f"{REG}/base:1"}]}
    check, real, again = three_ways(run, args)
    assert check["changed"] and real["changed"] and not again["changed"]
    assert actions(check) == actions(real) == [[f"pull {REG}/app:1 (missing)"], [f"pull {REG}/tool:2 (missing)"], []]
    assert [entry["id_after"] for entry in check["images"]] == [entry["id_after"] for entry in real["images"]]
    assert [entry["names_after"] for entry in check["images"]] == [entry["names_after"] for entry in real["images"]]
    assert check["diff"] == real["diff"] and len(real["diff"]) == 2
    assert "+id: " + "a" * 64 in "".join("\n+" + line for line in real["diff"][0]["after"].splitlines())
    # The second run: one inspect for all names and nothing else (present images need no registry).
    calls_before = len(world.calls)
    run(args)
    assert world.verbs()[-1] == "image inspect" and len(world.calls) == calls_before + 1


def test_latest_pulls_only_after_the_tag_moved(world, run):
    world.put_remote(f"{REG}/app:stable", "a" * 64)
    args = {"images": [{"name": f"{REG}/app:stable", "state": "latest"}]}
    assert run(args)["changed"]
    assert not run(args)["changed"]
    world.put_remote(f"{REG}/app:stable", "b" * 64)
    check, real, again = three_ways(run, args)
    assert check["changed"] and real["changed"] and not again["changed"]
    assert actions(check) == actions(real)
    assert real["images"][0]["id_before"] == "a" * 64 and real["images"][0]["id_after"] == "b" * 64
    assert check["images"][0]["id_after"] == "b" * 64
    assert real["images"][0]["registry_digest"] == real["images"][0]["digest_after"]
    # The old image keeps no name; the new one has the tag.
    assert world.local["a" * 64]["names"] == [] and world.local["b" * 64]["names"] == [f"{REG}/app:stable"]


def test_latest_after_pushing_from_here_is_no_pull(world, run):
    # podman push writes a new manifest (compressed layers): the digest differs, the config digest does not.
    world.add_local("a" * 64, ["localhost/app:1"])
    args = {"images": [{"name": "localhost/app:1", "tags": [f"{REG}/app:1"], "push": True}]}
    assert run(args)["changed"]
    assert not run({"images": [{"name": f"{REG}/app:1", "state": "latest"}]})["changed"]


def test_tag_and_push_then_nothing(world, run):
    world.add_local("a" * 64, ["localhost/app:build"])
    world.put_remote(f"{REG}/app:old", "f" * 64)
    args = {"images": [{"name": "localhost/app:build", "tags": [f"{REG}/app:1", f"{REG}/app:old", "localhost/app:x"],
                        "push": True}]}
    check, real, again = three_ways(run, args)
    assert check["changed"] and real["changed"] and not again["changed"]
    assert actions(check) == actions(real) == [[
        f"tag {REG}/app:1, {REG}/app:old, localhost/app:x (image aaaaaaaaaaaa)",
        f"push {REG}/app:1 (not in the registry)",
        f"push {REG}/app:old (registry has config sha256:{'f' * 64})"]]
    pushed = real["images"][0]["pushed"]
    assert [item["name"] for item in pushed] == [f"{REG}/app:1", f"{REG}/app:old"]
    assert pushed[0]["digest"] == hashlib.sha256(world.remote_raw(f"{REG}/app:1").encode()).hexdigest().join(
        ["sha256:", ""])
    assert check["images"][0]["pushed"][0]["digest"] is None
    assert "registry registry.example:5000/app:old: sha256:" + "f" * 64 in real["diff"][0]["before"]
    assert "registry registry.example:5000/app:old: sha256:" + "a" * 64 in real["diff"][0]["after"]
    assert world.verbs().count("push") == 2


def test_absent_untags_then_removes(world, run):
    world.add_local("a" * 64, [f"{REG}/app:1", f"{REG}/app:2"])
    args = {"images": [{"name": f"{REG}/app:1", "state": "absent"}, {"name": f"{REG}/app:2", "state": "absent"}]}
    check, real, again = three_ways(run, args)
    assert actions(check) == actions(real) == [[f"untag {REG}/app:1 (image aaaaaaaaaaaa keeps {REG}/app:2)"],
                                               [f"remove {REG}/app:2 (image aaaaaaaaaaaa, its last name)"]]
    assert not again["changed"] and world.local == {}
    assert [call[1] for call in world.calls if call[1] in ("untag", "rmi")] == ["untag", "rmi"]


def test_check_mode_changes_nothing(world, run):
    world.put_remote(f"{REG}/app:1", "a" * 64)
    world.add_local("b" * 64, ["localhost/x:1", f"{REG}/gone:1"])
    before = world.names_snapshot()
    result = run({"images": [{"name": f"{REG}/app:1"}, {"name": "localhost/x:1", "tags": [f"{REG}/x:1"], "push": True},
                             {"name": f"{REG}/gone:1", "state": "absent"}]}, check=True)
    assert result["changed"]
    assert world.names_snapshot() == before
    assert set(world.verbs()) == {"image inspect"}
    assert set(world.verbs("skopeo")) == {"inspect"}


@pytest.mark.parametrize("images, extra, message", [
    ([{"name": "app:1"}], {}, r"images\[0\] \(app:1\): image reference 'app:1': it is a short name"),
    ([{"name": "docker-daemon:app:1"}], {}, r"unknown transport 'docker-daemon'"),
    ([{"name": "oci:/srv/x:1"}], {}, r"the oci transport is not accepted here"),
    ([{"name": f"{REG}/app:1", "tags": [f"{REG}/app@sha256:{'1' * 64}"]}], {}, r"tags\[0\]: .* has a digest"),
    ([{"name": f"{REG}/app:1", "tags": ["short:1"]}], {}, r"tags\[0\]: image reference 'short:1': it is a short name"),
    ([{"name": "localhost/app:1", "push": True}], {}, r"push: true, but neither the name nor the tags name a registry"),
    ([{"name": f"{REG}/app:1", "sign_by": KEY}], {}, r"sign_by signs what is pushed; set push: true"),
    ([{"name": f"{REG}/app:1", "state": "absent", "tags": [f"{REG}/app:2"]}], {}, r"state: absent removes the name"),
    ([{"name": f"{REG}/app:1", "source": f"{REG}/app:0"}], {}, r"source is for engine=skopeo"),
    ([{"name": "localhost/app:1", "state": "latest"}], {}, r"state: latest asks the registry"),
    ([{"name": f"{REG}/app:1"}, {"name": f"docker://{REG}/app:1"}], {},
     r"images\[1\] \(docker://registry.example:5000/app:1\): name: registry.example:5000/app:1 is already declared "
     r"by images\[0\]"),
    ([{"name": f"{REG}/app:1", "state": "newest"}], {},
     r"images\[0\] \(registry.example:5000/app:1\): value of state must be one of: present, latest, absent"),
    ([{"name": f"{REG}/app:1", "tagz": []}], {}, r"images\[0\] \(registry.example:5000/app:1\): unsupported option"),
    (["just-a-string"], {}, r"Elements value for option 'images' is of type str and we were unable to convert"),
    ([{"name": f"{REG}/app:1"}], {"ca_cert_dir": "/nonexistent/ca"},
     r"ca_cert_dir: /nonexistent/ca is not a directory on the host"),
    ([{"name": f"{REG}/app:1", "tags": [f"{REG}/app:2"], "push": True, "sign_by": "FFFF"}], {},
     r"images\[0\] \(registry.example:5000/app:1\): sign_by: no secret key FFFF in the default GnuPG home"),
    ([{"name": "localhost/app:1", "source": "oci:/x:1"}], {"engine": "skopeo"},
     r"name: localhost/app:1 is a localhost/ name, which no registry serves; use containers-storage:localhost/app:1"),
    ([{"name": "oci:/nonexistent-dir/lay:1", "source": f"{REG}/a:1"}], {"engine": "skopeo"},
     r"the directory /nonexistent-dir does not exist"),
    ([{"name": "oci:/tmp/lay:1"}], {"engine": "skopeo"}, r"source is required with engine=skopeo"),
    ([{"name": "oci:/tmp/lay:1", "source": f"{REG}/a:1", "tags": [f"{REG}/a:2"]}], {"engine": "skopeo"},
     r"tags and push are for engine=podman"),
    ([{"name": "oci:/tmp/lay:1", "source": f"{REG}/a:1", "sign_by": KEY}], {"engine": "skopeo"},
     r"signatures can be stored for registry \(docker\) and dir destinations, not for oci"),
    ([{"name": f"{REG}/a@sha256:{'1' * 64}", "source": f"{REG}/a:1"}], {"engine": "skopeo"},
     r"copying to a digest is not possible"),
])
def test_bad_input_fails_before_any_change(world, run, images, extra, message):
    world.add_local("a" * 64, ["localhost/app:1"])
    result = run({"images": images, **extra})
    assert result.get("failed"), result
    assert re.search(message, result["msg"]), result["msg"]
    assert all(os.path.basename(call[0]) == "gpg" for call in world.calls)


def test_missing_image_in_the_registry_fails_clearly(world, run):
    result = run({"images": [{"name": f"{REG}/app:nope"}]})
    assert result["failed"] and result["msg"] == (f"images[0] ({REG}/app:nope): {REG}/app:nope is not in the registry "
                                                  "(manifest unknown)")
    assert "pull" not in world.verbs()


def test_credentials_go_in_a_temporary_auth_file_only(world, run):
    world.auth = ("tester", PASSWORD)
    world.put_remote(f"{REG}/app:1", "a" * 64)
    result = run({"images": [{"name": f"{REG}/app:1"}], "username": "tester", "password": PASSWORD})
    assert result["changed"]
    assert world.auth_files_seen and not any(os.path.exists(path) for path in world.auth_files_seen)
    assert not any(PASSWORD in " ".join(call) or basic_auth("tester", PASSWORD) in " ".join(call)
                   for call in world.calls)


def test_wrong_credentials_fail_clearly_without_the_password(world, run):
    world.auth = ("tester", PASSWORD)
    world.put_remote(f"{REG}/app:1", "a" * 64)
    result = run({"images": [{"name": f"{REG}/app:1"}], "username": "tester", "password": "wrong-" + PASSWORD})
    assert result["failed"] and result["failure"] == "auth"
    assert result["msg"].startswith(f"{REG}/app:1: authentication failed: reading manifest in {REG}/app:1: "
                                    "unauthorized")
    assert "wrong-" + PASSWORD not in json.dumps(result)
    assert not any(os.path.exists(path) for path in world.auth_files_seen)


def test_password_and_its_base64_are_no_log_values(world, run, monkeypatch):
    seen: list[set[str]] = []

    class Spy(image_module.RegistryAccess):
        def __exit__(self, *exc_info):
            seen.append(set(self.module.no_log_values))
            return super().__exit__(*exc_info)

    monkeypatch.setattr(image_module, "RegistryAccess", Spy)
    world.add_local("a" * 64, [f"{REG}/app:1"])
    run({"images": [{"name": f"{REG}/app:1"}], "username": "tester", "password": PASSWORD})
    assert seen and {PASSWORD, basic_auth("tester", PASSWORD)} <= seen[0]


def test_policy_refusal_is_clear_and_leaves_nothing(world, run):
    world.put_remote(f"{REG}/unsigned:1", "a" * 64)
    world.refused.add(f"{REG}/unsigned:1")
    before = world.names_snapshot()
    result = run({"images": [{"name": f"{REG}/unsigned:1"}]})
    assert result["failed"] and result["failure"] == "policy"
    assert result["msg"].startswith(f"images[0] ({REG}/unsigned:1): refused by the signature policy: Source image "
                                    "rejected: A signature was required, but no signature exists")
    assert world.names_snapshot() == before


def write_lookaside(tmp: Path, staging: Path) -> None:
    directory = tmp / "registries.d"
    directory.mkdir(exist_ok=True)
    (directory / "test.yaml").write_text(f'docker:\n  "{REG}":\n    lookaside-staging: "file://{staging}"\n')


def test_sign_by_pushes_again_when_no_signature_is_staged(world, run, tmp_path, monkeypatch):
    staging = tmp_path / "sigstore"
    write_lookaside(tmp_path, staging)
    world.add_local("a" * 64, ["localhost/app:1"])
    args = {"images": [{"name": "localhost/app:1", "tags": [f"{REG}/app:1"], "push": True, "sign_by": KEY}],
            "gpg_home": str(tmp_path)}
    first = run(args)
    assert first["images"][0]["pushed"][0]["signed"] is True
    push = next(call for call in world.calls if call[1] == "push")
    assert push[push.index("--sign-by") + 1] == KEY
    # The fake podman stages no signature: the next run pushes again, check mode says so first.
    check, real = run(args, check=True), run(args)
    assert actions(check) == actions(real) == [[f"push {REG}/app:1 (no signature staged for the registry's digest; "
                                                f"signed by {KEY})"]]
    # A staged signature for the registry's digest naming the image: nothing to do.
    digest = real["images"][0]["pushed"][0]["digest"]
    signature_dir = staging / f"app@sha256={digest[7:]}"
    signature_dir.mkdir(parents=True)
    (signature_dir / "signature-1").write_bytes((FIXTURES / "signature-1").read_bytes())
    # The fixture signs another identity and digest: still not a signature for this image.
    assert run(args, check=True)["changed"]
    # A signature whose payload names this image and digest, and that gpg verifies: nothing to do.
    payload = {"critical": {"identity": {"docker-reference": f"{REG}/app:1"},
                            "image": {"docker-manifest-digest": digest}}}
    monkeypatch.setattr(image_module, "signature_payload", lambda data: payload)
    (signature_dir / "signature-1").write_bytes(b"good signature")
    assert not run(args)["changed"]
    # The same payload in a signature that does not verify (altered): pushed and signed again.
    (signature_dir / "signature-1").write_bytes(b"altered signature")
    assert actions(run(args, check=True))[0][0].startswith(f"push {REG}/app:1 (no signature staged")


def test_sign_by_with_a_passphrase_file(world, run, tmp_path):
    passphrase = tmp_path / "pp"
    passphrase.write_text("x")
    world.add_local("a" * 64, ["localhost/app:1"])
    run({"images": [{"name": "localhost/app:1", "tags": [f"{REG}/app:1"], "push": True, "sign_by": KEY}],
         "sign_passphrase_file": str(passphrase)})
    push = next(call for call in world.calls if call[1] == "push")
    assert push[push.index("--sign-passphrase-file") + 1] == str(passphrase)


# ---- skopeo, against the fake registry

def test_skopeo_copy_between_tags_and_delete_refuses_shared_manifests(world, run):
    world.put_remote(f"{REG}/app:1", "a" * 64)
    args = {"engine": "skopeo", "images": [{"name": f"{REG}/mirror:1", "source": f"docker://{REG}/app:1",
                                            "state": "latest"}]}
    check, real, again = three_ways(run, args)
    assert check["changed"] and real["changed"] and not again["changed"]
    assert real["images"][0]["digest_after"] == check["images"][0]["digest_after"]
    world.put_remote(f"{REG}/mirror:2", "a" * 64)
    refused = run({"engine": "skopeo", "images": [{"name": f"{REG}/mirror:1", "state": "absent"}]})
    assert refused["failed"] and "would also delete the tag(s) 2" in refused["msg"]
    world.registry[f"{REG}/mirror"].pop("2")
    deleted = run({"engine": "skopeo", "images": [{"name": f"{REG}/mirror:1", "state": "absent"}]})
    assert deleted["changed"] and world.registry[f"{REG}/mirror"] == {}


# ---- skopeo, for real, between layouts on this machine

def _policy_accepts_anything() -> bool:
    try:
        policy = json.loads(Path("/etc/containers/policy.json").read_text())
    except (OSError, ValueError):
        return False
    return policy.get("default") == [{"type": "insecureAcceptAnything"}] and not policy.get("transports")


needs_skopeo = pytest.mark.skipif(not shutil.which("skopeo") or not _policy_accepts_anything(),
                                  reason="needs skopeo and a policy.json that accepts local layouts")


def make_oci_layout(path: Path, refs: dict[str, bytes]) -> dict[str, str]:
    """An OCI layout with one single-layer image per ref (file content as given); returns ref -> manifest digest."""
    (path / "blobs" / "sha256").mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        (path / "blobs" / "sha256" / digest).write_bytes(data)
        return f"sha256:{digest}", len(data)

    manifests, digests = [], {}
    for name, content in refs.items():
        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w") as archive:
            info = tarfile.TarInfo("hello.txt")
            info.size = len(content)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(content))
        layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
        layer_digest, layer_size = blob(layer)
        diff_id = "sha256:" + hashlib.sha256(tar_bytes.getvalue()).hexdigest()
        config = json.dumps({"created": "2025-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
                             "config": {"Cmd": ["/hello"]}, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                             "history": [{"created": "2025-01-01T00:00:00Z", "created_by": "test"}]}).encode()
        config_digest, config_size = blob(config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": config_digest, "size": config_size},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                           "digest": layer_digest, "size": layer_size}]}).encode()
        manifest_digest, manifest_size = blob(manifest)
        digests[name] = manifest_digest
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                          "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": name}})
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return digests


@pytest.fixture
def real_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The module runs the real skopeo (no fake world)."""
    monkeypatch.setattr(image_module, "REGISTRIES_D", str(tmp_path / "registries.d"))
    return tmp_path


@needs_skopeo
def test_real_skopeo_copies_between_layouts(real_tools, run):
    tmp = real_tools
    digests = make_oci_layout(tmp / "src", {"one": b"one\n", "two": b"two\n"})
    dest = tmp / "dest"
    dest.mkdir()
    copies = {"engine": "skopeo", "images": [
        {"name": f"oci:{dest}/oci:a", "source": f"oci:{tmp}/src:one"},
        {"name": f"oci:{dest}/oci:b", "source": f"oci:{tmp}/src:two", "state": "latest"},
        {"name": f"dir:{dest}/dir", "source": f"oci:{tmp}/src:one", "state": "latest"},
        {"name": f"oci-archive:{dest}/one.tar:one", "source": f"oci:{dest}/oci:a"},
    ]}
    check, real, again = three_ways(run, copies)
    assert not check.get("failed") and not real.get("failed"), (check, real)
    assert check["changed"] and real["changed"] and not again["changed"]
    assert actions(check) == actions(real)
    assert [entry["digest_after"] for entry in real["images"]] == [digests["one"], digests["two"], digests["one"],
                                                                   digests["one"]]
    assert [entry["digest_after"] for entry in check["images"]] == [entry["digest_after"] for entry in real["images"]]
    assert (dest / "dir" / "manifest.json").exists() and (dest / "one.tar").is_file()
    assert not [name for name in os.listdir(dest) if name.startswith(".")]
    # latest follows the source; present does not.
    make_oci_layout(tmp / "src2", {"one": b"changed\n"})
    moved = run({"engine": "skopeo", "images": [
        {"name": f"dir:{dest}/dir", "source": f"oci:{tmp}/src2:one", "state": "latest"},
        {"name": f"oci:{dest}/oci:a", "source": f"oci:{tmp}/src2:one"}]})
    assert actions(moved)[1] == [] and actions(moved)[0][0].startswith(f"copy dir:{dest}/dir (from oci:")
    # absent: one name out of the OCI layout (blobs only it used go too), then the last name takes the layout.
    removal = {"engine": "skopeo", "images": [{"name": f"oci:{dest}/oci:a", "state": "absent"},
                                              {"name": f"dir:{dest}/dir", "state": "absent"},
                                              {"name": f"oci-archive:{dest}/one.tar", "state": "absent"}]}
    check, real, again = three_ways(run, removal)
    assert actions(check) == actions(real) and not again["changed"]
    index = json.loads((dest / "oci" / "index.json").read_text())
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == ["b"]
    blobs = set(os.listdir(dest / "oci" / "blobs" / "sha256"))
    assert digests["one"][7:] not in blobs and digests["two"][7:] in blobs
    assert not (dest / "dir").exists() and not (dest / "one.tar").exists()
    last = run({"engine": "skopeo", "images": [{"name": f"oci:{dest}/oci:b", "state": "absent"}]})
    assert last["changed"] and not (dest / "oci").exists()


@needs_skopeo
def test_real_skopeo_failed_copy_leaves_nothing(real_tools, run):
    tmp = real_tools
    make_oci_layout(tmp / "src", {"one": b"one\n"})
    dest = tmp / "dest"
    dest.mkdir()
    # Damage the source's layer so that the copy fails half-way.
    index = json.loads((tmp / "src" / "index.json").read_text())
    manifest = json.loads((tmp / "src" / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    (tmp / "src" / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]).unlink()
    for name in (f"oci:{dest}/oci:a", f"dir:{dest}/dir", f"oci-archive:{dest}/a.tar"):
        result = run({"engine": "skopeo", "images": [{"name": name, "source": f"oci:{tmp}/src:one"}]})
        assert result.get("failed"), result
        assert os.listdir(dest) == [], (name, os.listdir(dest))
