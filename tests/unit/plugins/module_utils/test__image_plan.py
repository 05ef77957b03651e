# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the image module's decisions: wanted entries + observed state -> actions, and signature staging."""

from __future__ import annotations

import json

from pathlib import Path

import pytest
import yaml

from ansible_collections.containerhost.platform.plugins.module_utils import _image_plan as ip
from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import parse_reference

FIXTURES = Path(__file__).parent / "fixtures" / "images"
ID_A = "a" * 64
ID_B = "b" * 64
DIG_A = "sha256:" + "1" * 64
DIG_B = "sha256:" + "2" * 64
REG = "registry.example:5000"


def ref(text: str):
    return parse_reference(text)


def image(image_id: str, names: list[str], digest: str | None = None, repos: tuple[str, ...] = ()) -> dict:
    """An inspect entry as podman prints it (RepoDigests: every repository with every digest)."""
    repositories = sorted({name.rsplit(":", 1)[0] for name in names} | set(repos))
    return {"Id": image_id, "RepoTags": names, "Digest": digest,
            "RepoDigests": [f"{repo}@{digest}" for repo in repositories] if digest else []}


def wanted(name: str, state: str = "present", tags: tuple[str, ...] = (), push: bool = False,
           sign_by: str | None = None, index: int = 0) -> ip.Wanted:
    return ip.Wanted(index, ref(name), state, [ref(tag) for tag in tags], push, sign_by)


def actions(plan: ip.EntryPlan) -> list[str]:
    return [action.describe() for action in plan.actions]


def store(*images: dict) -> ip.LocalStore:
    return ip.LocalStore.from_inspect(images)


# ---- the local store

def test_store_from_real_inspect_output():
    data = json.loads((FIXTURES / "podman-inspect-pulled-list.json").read_text())
    local = ip.LocalStore.from_inspect([data[0], data[0], None])
    assert len(local.images) == 1
    found = local.find(ref("127.0.0.1:5612/bb@sha256:90f0aeb3c50b5e5fd044967eb63ed61c57f71e1fad717ccd34aa0186712622cb"))
    assert found is local.find(ref("127.0.0.1:5612/bb-list:1")) is not None
    assert local.find(ref("127.0.0.1:5612/bb-list:2")) is None
    assert local.find(parse_reference("containers-storage:" + found.id)) is found


def test_store_moves_names():
    local = store(image(ID_A, [f"{REG}/app:1", f"{REG}/app:2"], DIG_A))
    moved = local.add(ID_B, ref(f"{REG}/app:2"), {DIG_B})
    assert local.get(ID_A).names == [f"{REG}/app:1"] and moved.names == [f"{REG}/app:2"]
    assert local.get(ID_B).digest == DIG_B


# ---- podman entries

def test_present_missing_pulls_and_predicts_the_id():
    plans = ip.plan_podman([wanted(f"{REG}/app:1")], store(), {f"{REG}/app:1": ip.Remote(DIG_A, f"sha256:{ID_A}")})
    assert actions(plans[0]) == [f"pull {REG}/app:1 (missing)"]
    assert plans[0].before is None
    assert plans[0].after == {"id": ID_A, "digest": DIG_A, "names": [f"{REG}/app:1"]}


def test_present_pull_joins_an_image_the_host_has_under_another_name():
    plans = ip.plan_podman([wanted(f"{REG}/app:1")], store(image(ID_A, ["localhost/app:dev"], DIG_B)),
                           {f"{REG}/app:1": ip.Remote(DIG_A, f"sha256:{ID_A}")})
    assert plans[0].after["names"] == ["localhost/app:dev", f"{REG}/app:1"]


def test_present_and_there_does_nothing():
    plans = ip.plan_podman([wanted(f"{REG}/app:1")], store(image(ID_A, [f"{REG}/app:1"], DIG_A)), {})
    assert not plans[0].changed and plans[0].before == plans[0].after


@pytest.mark.parametrize("remote, pulls", [
    (ip.Remote(DIG_A, f"sha256:{ID_A}"), False),           # same manifest digest
    (ip.Remote(DIG_B, f"sha256:{ID_A}"), False),           # another manifest (pushed from here), same image
    (ip.Remote(DIG_B, None, instance_digest=DIG_A), False),  # a list whose entry for this platform we have
    (ip.Remote(DIG_B, f"sha256:{ID_B}"), True),            # the tag moved
    (ip.Remote(DIG_B, None), True),                        # unknown config and another digest
])
def test_latest_pulls_only_when_the_registry_moved(remote, pulls):
    plans = ip.plan_podman([wanted(f"{REG}/app:1", "latest")], store(image(ID_A, [f"{REG}/app:1"], DIG_A)),
                           {f"{REG}/app:1": remote})
    assert plans[0].changed is pulls
    if pulls:
        assert actions(plans[0]) == [f"pull {REG}/app:1 (registry digest {DIG_B} differs)"]


def test_latest_by_digest_is_up_to_date_once_present():
    name = f"{REG}/app@{DIG_A}"
    plans = ip.plan_podman([wanted(name, "latest")], store(image(ID_A, [], DIG_A, repos=(f"{REG}/app",))), {})
    assert not plans[0].changed


def test_pull_by_digest_when_missing():
    name = f"{REG}/app@{DIG_A}"
    plans = ip.plan_podman([wanted(name)], store(), {name: ip.Remote(DIG_A, f"sha256:{ID_A}")})
    assert actions(plans[0]) == [f"pull {name} (missing)"]
    assert plans[0].after == {"id": ID_A, "digest": DIG_A, "names": []}


def test_missing_in_the_registry_and_local_only_names_fail_clearly():
    with pytest.raises(ip.PlanError, match=r"images\[0\] \(registry.example:5000/app:1\): .* is not in the registry "
                                           r"\(manifest unknown\)"):
        ip.plan_podman([wanted(f"{REG}/app:1")], store(), {f"{REG}/app:1": None})
    with pytest.raises(ip.PlanError, match="localhost/ names cannot be pulled"):
        ip.plan_podman([wanted("localhost/app:1")], store(), {})


def test_tags_by_image_id():
    local = store(image(ID_A, ["localhost/app:1", f"{REG}/app:same"], DIG_A), image(ID_B, [f"{REG}/app:moved"]))
    plans = ip.plan_podman([wanted("localhost/app:1", tags=(f"{REG}/app:same", f"{REG}/app:moved", f"{REG}/app:new"))],
                           local, {})
    assert actions(plans[0]) == [f"tag {REG}/app:moved, {REG}/app:new (image {ID_A[:12]})"]
    assert plans[0].actions[0].data["targets"] == [f"{REG}/app:moved", f"{REG}/app:new"]
    assert plans[0].after["names"] == sorted(["localhost/app:1", f"{REG}/app:same", f"{REG}/app:moved",
                                              f"{REG}/app:new"])
    # The real store is not touched by planning.
    assert local.get(ID_B).names == [f"{REG}/app:moved"]


def test_push_decided_by_config_digest():
    local = store(image(ID_A, ["localhost/app:1", f"{REG}/app:1"], DIG_A))
    entry = wanted("localhost/app:1", tags=(f"{REG}/app:1", f"{REG}/app:2", "localhost/app:x"), push=True)
    assert [str(target) for target in entry.push_targets()] == [f"{REG}/app:1", f"{REG}/app:2"]
    remote = {f"{REG}/app:1": ip.Remote(DIG_B, f"sha256:{ID_A}"), f"{REG}/app:2": ip.Remote(DIG_B, f"sha256:{ID_B}")}
    plans = ip.plan_podman([entry], local, remote)
    assert actions(plans[0]) == [f"tag {REG}/app:2, localhost/app:x (image {ID_A[:12]})",
                                 f"push {REG}/app:2 (registry has config sha256:{ID_B})"]
    assert plans[0].registry_before == {f"{REG}/app:1": f"sha256:{ID_A}", f"{REG}/app:2": f"sha256:{ID_B}"}
    assert plans[0].registry_after == {f"{REG}/app:1": f"sha256:{ID_A}", f"{REG}/app:2": f"sha256:{ID_A}"}
    remote[f"{REG}/app:2"] = None
    assert actions(ip.plan_podman([entry], local, remote)[0])[-1] == f"push {REG}/app:2 (not in the registry)"


@pytest.mark.parametrize("signed, pushed, note", [(True, False, False), (False, True, False), (None, False, True)])
def test_push_with_sign_by_checks_the_staged_signature(signed, pushed, note):
    local = store(image(ID_A, ["localhost/app:1", f"{REG}/app:1"], DIG_A))
    entry = wanted(f"{REG}/app:1", push=True, sign_by="ABCD")
    plans = ip.plan_podman([entry], local, {f"{REG}/app:1": ip.Remote(DIG_B, f"sha256:{ID_A}")},
                           {f"{REG}/app:1": signed})
    assert plans[0].changed is pushed
    if pushed:
        assert actions(plans[0]) == [f"push {REG}/app:1 (no signature staged for the registry's digest; "
                                     "signed by ABCD)"]
        assert plans[0].actions[0].data["sign"] is True
    assert bool(plans[0].notes) is note


def test_absent_untags_then_removes_with_the_last_name_in_order():
    local = store(image(ID_A, [f"{REG}/app:1", f"{REG}/app:2"], DIG_A))
    plans = ip.plan_podman([wanted(f"{REG}/app:1", "absent", index=0), wanted(f"{REG}/app:2", "absent", index=1),
                            wanted(f"{REG}/app:3", "absent", index=2)], local, {})
    assert actions(plans[0]) == [f"untag {REG}/app:1 (image {ID_A[:12]} keeps {REG}/app:2)"]
    assert plans[0].actions[0].data == {"image_id": ID_A, "names": [f"{REG}/app:1"]}
    assert plans[0].after == {"id": ID_A, "digest": DIG_A, "names": [f"{REG}/app:2"]}
    assert actions(plans[1]) == [f"remove {REG}/app:2 (image {ID_A[:12]}, its last name)"]
    assert plans[1].after is None
    assert not plans[2].changed


def test_absent_by_digest_removes_the_image_with_all_names():
    name = f"{REG}/app@{DIG_A}"
    plans = ip.plan_podman([wanted(name, "absent")], store(image(ID_A, [f"{REG}/app:1", "localhost/x:1"], DIG_A)), {})
    assert [action.kind for action in plans[0].actions] == ["untag", "remove"]
    assert plans[0].actions[0].data["names"] == [f"{REG}/app:1", "localhost/x:1"]
    assert plans[0].actions[1].data["image"] == ID_A


def test_pull_then_a_later_entry_sees_it():
    remote = {f"{REG}/app:1": ip.Remote(DIG_A, f"sha256:{ID_A}")}
    plans = ip.plan_podman([wanted(f"{REG}/app:1", index=0), wanted(f"{REG}/app:1", "absent", index=1)], store(),
                           remote)
    assert [action.kind for action in plans[0].actions] == ["pull"]
    assert [action.kind for action in plans[1].actions] == ["remove"]


# ---- skopeo copies

def copy_entry(name: str, source: str | None, state: str = "present", sign_by: str | None = None) -> ip.Wanted:
    return ip.Wanted(0, ref(name), state, source=ref(source) if source else None, sign_by=sign_by)


def test_copy_present_latest_absent():
    src = ip.Remote(DIG_A, f"sha256:{ID_A}")
    entry = copy_entry("oci:/srv/lay:1", f"docker://{REG}/app:1")
    plan = ip.plan_copy(entry, None, src, True)
    assert actions(plan) == [f"copy oci:/srv/lay:1 (from {REG}/app:1: destination missing)"]
    assert plan.after == {"digest": DIG_A, "config": f"sha256:{ID_A}"} and plan.source_digest == DIG_A
    assert not ip.plan_copy(entry, ip.Remote(DIG_B, f"sha256:{ID_B}"), None, False).changed
    latest = copy_entry("oci:/srv/lay:1", f"docker://{REG}/app:1", "latest")
    assert not ip.plan_copy(latest, ip.Remote(DIG_B, f"sha256:{ID_A}"), src, True).changed
    assert ip.plan_copy(latest, ip.Remote(DIG_B, f"sha256:{ID_B}"), src, True).changed
    gone = ip.plan_copy(copy_entry("oci:/srv/lay:1", None, "absent"), ip.Remote(DIG_B), None, False)
    assert actions(gone) == ["remove_oci_ref oci:/srv/lay:1 (1 from the layout /srv/lay)"]
    assert not ip.plan_copy(copy_entry("oci:/srv/lay:1", None, "absent"), None, None, False).changed


@pytest.mark.parametrize("name, kind", [
    (f"{REG}/app:1", "delete"), ("containers-storage:localhost/app:1", "delete"), ("dir:/srv/d", "remove_path"),
    ("oci:/srv/lay", "remove_path"), ("oci-archive:/srv/a.tar", "remove_path"),
])
def test_copy_absent_by_transport(name, kind):
    plan = ip.plan_copy(copy_entry(name, None, "absent"), ip.Remote(DIG_A), None, False)
    assert [action.kind for action in plan.actions] == [kind]


def test_copy_missing_source_fails_and_sign_by_recopies():
    with pytest.raises(ip.PlanError, match=r"the source .* does not exist"):
        ip.plan_copy(copy_entry(f"{REG}/app:1", "oci:/srv/lay:1"), None, None, True)
    signed_entry = copy_entry(f"{REG}/app:1", "oci:/srv/lay:1", sign_by="ABCD")
    plan = ip.plan_copy(signed_entry, ip.Remote(DIG_A, f"sha256:{ID_A}"), None, False, signed=False)
    assert actions(plan) == [f"copy {REG}/app:1 (from oci:/srv/lay:1: no signature staged for the destination's "
                             "digest; signed by ABCD)"]
    assert not ip.plan_copy(signed_entry, ip.Remote(DIG_A), None, False, signed=True).changed


@pytest.mark.parametrize("source, dest, kept", [
    (f"docker://{REG}/a:1", "oci:/x:1", True), ("oci:/x:1", f"{REG}/a:1", True), ("dir:/d", "oci-archive:/a", True),
    ("containers-storage:localhost/a:1", f"{REG}/a:1", False), (f"{REG}/a:1", "docker-archive:/a.tar", False),
    ("docker-archive:/a.tar", f"{REG}/a:1", False),
])
def test_manifest_preserved(source, dest, kept):
    assert ip.manifest_preserved(ref(source), ref(dest)) is kept
    plan = ip.plan_copy(copy_entry(dest, source), None, ip.Remote(DIG_A, f"sha256:{ID_A}"), True)
    assert plan.after["digest"] == (DIG_A if kept else None)
    assert plan.after["config"] == f"sha256:{ID_A}"


# ---- OCI layouts

def test_oci_reachable_and_without_ref():
    blobs = {
        "sha256:m1": json.dumps({"config": {"digest": "sha256:c1"}, "layers": [{"digest": "sha256:l1"},
                                                                               {"digest": "sha256:shared"}]}),
        "sha256:m2": json.dumps({"config": {"digest": "sha256:c2"}, "layers": [{"digest": "sha256:shared"}]}),
        "sha256:i1": json.dumps({"manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                "digest": "sha256:m2"}]}),
    }
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:m1",
         "annotations": {"org.opencontainers.image.ref.name": "one"}},
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:i1",
         "annotations": {"org.opencontainers.image.ref.name": "two"}}]}

    def read(digest: str) -> bytes | None:
        return blobs.get(digest, "").encode() or None

    assert ip.oci_reachable(index, read) == {"sha256:m1", "sha256:c1", "sha256:l1", "sha256:shared", "sha256:i1",
                                             "sha256:m2", "sha256:c2"}
    rest = ip.oci_without_ref(index, "one")
    assert [desc["digest"] for desc in rest["manifests"]] == ["sha256:i1"]
    assert ip.oci_reachable(rest, read) == {"sha256:i1", "sha256:m2", "sha256:c2", "sha256:shared"}


# ---- look-aside staging and signatures

def test_simple_yaml_reads_what_image_trust_writes_like_pyyaml():
    text = (FIXTURES / "registries.d-collection.yaml").read_text()
    assert ip.parse_simple_yaml(text) == yaml.safe_load(text)
    with pytest.raises(ValueError, match="only block mappings"):
        ip.parse_simple_yaml("docker:\n  - item\n")


def test_staging_url_follows_containers_image():
    config = ip.merge_registries_d([ip.parse_simple_yaml((FIXTURES / "registries.d-collection.yaml").read_text()),
                                    {"docker": {"wild.example.com": {"sigstore": "file:///old"},
                                                "*.example.org": {"sigstore-staging": "file:///wild"}}}, None])
    tb = "172.29.221.1:5613"
    assert ip.staging_url(config, ref(f"{tb}/app:1")) == "file:///var/lib/containers/sigstore-tb"
    # The most specific scope with a URL wins; a read uses lookaside, a write prefers the staging location.
    assert ip.staging_url(config, ref(f"{tb}/team/app:1")) == "https://sigs.example.com/team"
    assert ip.staging_url(config, ref("other.example/app:1")) == "file:///srv/staging"
    assert ip.staging_url(config, ref("wild.example.com/app:1")) == "file:///old"
    assert ip.staging_url(config, ref("reg.example.org/app:1")) == "file:///wild"
    # Reading: staging-only sections do not count, and the default-docker section only stages.
    assert ip.staging_url(config, ref("reg.example.org/app:1"), write=False) == ip.BUILTIN_LOOKASIDE
    assert ip.staging_url(ip.merge_registries_d([]), ref("r.example/app:1")) == ip.BUILTIN_LOOKASIDE


def test_policy_namespaces():
    assert ip.policy_namespaces(ref("reg.example.com/ns/app:1")) == [
        "reg.example.com/ns/app:1", "reg.example.com/ns/app", "reg.example.com/ns", "reg.example.com",
        "*.example.com", "*.com"]
    assert ip.policy_namespaces(ref("reg.example:5000/app:1"))[-1] == "reg.example:5000"


def test_signature_dir():
    assert ip.signature_dir("file:///var/lib/containers/sigstore/", ref("reg.example/ns/app:1"), DIG_A) == \
        f"/var/lib/containers/sigstore/ns/app@sha256={'1' * 64}"
    assert ip.signature_dir("https://sigs.example.com", ref("reg.example/app:1"), DIG_A) is None


def test_signature_payload_of_a_real_signature():
    payload = ip.signature_payload((FIXTURES / "signature-1").read_bytes())
    digest = "sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc"
    assert payload["critical"]["identity"]["docker-reference"] == "127.0.0.1:5612/bb:pp1"
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    assert ip.signature_matches(payload, ref("127.0.0.1:5612/bb:pp1"), digest) == "exact"
    assert ip.signature_matches(payload, ref("127.0.0.1:5612/bb:other"), digest) == "repository"
    assert ip.signature_matches(payload, ref("127.0.0.1:5612/cc:pp1"), digest) is None
    assert ip.signature_matches(payload, ref("127.0.0.1:5612/bb:pp1"), DIG_A) is None
    assert ip.signature_payload(b"not a signature") is None
    assert ip.signature_payload(b"") is None
    assert ip.signature_matches(None, ref("127.0.0.1:5612/bb:pp1"), digest) is None


@pytest.mark.parametrize("sign_by, good", [
    ("A20C539813588FFD15FC22EEBFD63C7A1A720F83", True), ("BFD63C7A1A720F83", True), ("0xbfd63c7a1a720f83", True),
    ("a20c 5398 1358 8ffd 15fc 22ee bfd6 3c7a 1a72 0f83", True), ("pp@example.com", True),
    ("C0495C26789FBCA353AE117D0C038CA08C444C83", False),
])
def test_validsig_matches_real_gpg_status(sign_by, good):
    good_status = (FIXTURES / "gpg-verify-status.txt").read_text()
    bad_status = (FIXTURES / "gpg-verify-status-bad.txt").read_text()
    assert ip.validsig_matches(good_status, sign_by) is good
    assert ip.validsig_matches(bad_status, sign_by) is False


def test_action_equality_and_repr():
    assert ip.Action("pull", "x", "missing") == ip.Action("pull", "x", "missing", extra=1)
    assert repr(ip.Action("pull", "x")) == "Action('pull x')"
