# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for image reference parsing: every transport, canonical forms, and the errors for bad input."""

from __future__ import annotations

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import (
    ImageRef,
    ImageRefError,
    image_id_matches,
    parse_reference,
    split_transport,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, registry, repository, tag, digest, canonical", [
    ("registry.example:5000/team/app:1.4", "registry.example:5000", "team/app", "1.4", None,
     "registry.example:5000/team/app:1.4"),
    ("registry.example/app", "registry.example", "app", "latest", None, "registry.example/app:latest"),
    ("docker://registry.example/app:v1", "registry.example", "app", "v1", None, "registry.example/app:v1"),
    ("localhost/app:1", "localhost", "app", "1", None, "localhost/app:1"),
    ("localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", None, "localhost:5000/a/b/c:latest"),
    ("127.0.0.1:5612/bb:2", "127.0.0.1:5612", "bb", "2", None, "127.0.0.1:5612/bb:2"),
    (f"registry.example/app@{DIGEST}", "registry.example", "app", None, DIGEST, f"registry.example/app@{DIGEST}"),
    ("registry.example/my_app-x.y/sub__part:TAG_1.0-rc", "registry.example", "my_app-x.y/sub__part", "TAG_1.0-rc", None,
     "registry.example/my_app-x.y/sub__part:TAG_1.0-rc"),
    ("[fd00::1]:5000/app:1", "[fd00::1]:5000", "app", "1", None, "[fd00::1]:5000/app:1"),
])
def test_docker_references(text, registry, repository, tag, digest, canonical):
    ref = parse_reference(text)
    assert (ref.transport, ref.registry, ref.repository, ref.tag, ref.digest) == (
        "docker", registry, repository, tag, digest)
    assert str(ref) == canonical
    assert ref.transport_ref == f"docker://{canonical}"
    assert ref.name == f"{registry}/{repository}"
    # The canonical form parses to the same reference.
    assert parse_reference(str(ref)) == ref


def test_registry_and_local_names():
    assert parse_reference("registry.example/app:1").is_registry
    local = parse_reference("localhost/app:1")
    assert local.is_local_name and not local.is_registry
    assert parse_reference("localhost:5000/app:1").is_local_name


@pytest.mark.parametrize("text, transport, path, layout_ref, canonical", [
    ("oci:/srv/layout:app-1", "oci", "/srv/layout", "app-1", "oci:/srv/layout:app-1"),
    ("oci:/srv/layout/", "oci", "/srv/layout", None, "oci:/srv/layout"),
    ("oci-archive:/srv/app.tar:v1", "oci-archive", "/srv/app.tar", "v1", "oci-archive:/srv/app.tar:v1"),
    ("dir:/srv/app", "dir", "/srv/app", None, "dir:/srv/app"),
    ("docker-archive:/srv/app.tar", "docker-archive", "/srv/app.tar", None, "docker-archive:/srv/app.tar"),
    ("docker-archive:/srv/app.tar:@1", "docker-archive", "/srv/app.tar", "@1", "docker-archive:/srv/app.tar:@1"),
])
def test_layout_references(text, transport, path, layout_ref, canonical):
    ref = parse_reference(text)
    assert (ref.transport, ref.path, ref.layout_ref) == (transport, path, layout_ref)
    assert ref.is_layout and not ref.is_registry
    assert str(ref) == canonical == ref.transport_ref


def test_docker_archive_with_a_name():
    ref = parse_reference("docker-archive:/srv/app.tar:registry.example/app:1")
    assert (ref.path, ref.registry, ref.repository, ref.tag) == ("/srv/app.tar", "registry.example", "app", "1")
    assert str(ref) == "docker-archive:/srv/app.tar:registry.example/app:1"
    # A name in an archive is a label: short names are fine there.
    assert parse_reference("docker-archive:/srv/app.tar:app:1").repository == "app"


def test_containers_storage_references():
    ref = parse_reference("containers-storage:registry.example/app:1")
    assert (ref.transport, ref.registry, ref.repository, ref.tag, ref.store) == (
        "containers-storage", "registry.example", "app", "1", None)
    assert str(ref) == "containers-storage:registry.example/app:1"
    stored = parse_reference("containers-storage:[vfs@/var/lib/x+/run/x]localhost/app:1")
    assert stored.store == "vfs@/var/lib/x+/run/x" and stored.image == "localhost/app:1"
    assert str(stored) == "containers-storage:[vfs@/var/lib/x+/run/x]localhost/app:1"
    by_id = parse_reference("containers-storage:" + "c" * 64)
    assert by_id.image_id == "c" * 64 and by_id.repository is None


def test_transports_can_be_limited():
    with pytest.raises(ImageRefError, match=r"the oci transport is not accepted here; accepted: registry\[:port\]"):
        parse_reference("oci:/srv/x:1", transports=("docker",))
    assert parse_reference("docker://registry.example/app:1", transports=("docker",)).tag == "1"


@pytest.mark.parametrize("text, message", [
    ("app:1", r"'app:1': it is a short name; accepted: image names must be fully qualified"),
    ("team/app", r"it is a short name"),
    ("docker-daemon:app:1", r"unknown transport 'docker-daemon' \(containers/image knows it, these modules do not "
                            r"handle it\); accepted: the transports docker, containers-storage"),
    ("ftp://registry.example/app", r"unknown transport 'ftp'"),
    ("registry.example/App:1", r"repository part 'App' has upper-case letters"),
    ("registry.example/app:-bad", r"tag '-bad' is not valid; accepted: up to 128 letters"),
    ("registry.example/app:" + "x" * 129, r"is not valid"),
    ("registry.example/app@sha256:1234", r"'sha256:1234' is not a digest; accepted: sha256: followed by 64"),
    ("registry.example/app@md5:" + "a" * 32, r"is not a digest"),
    (f"registry.example/app:1@{DIGEST}", r"both a tag and a digest"),
    ("registry.example//app", r"empty path part"),
    ("registry.example/app/", r"empty path part"),
    ("registry.example/a..b", r"repository part 'a..b' is not valid"),
    ("bad_host!.example/app", r"registry 'bad_host!.example' is not a host name"),
    ("", r"it is empty"),
    ("registry.example/ap p", r"white space"),
    ("registry.example/" + "a" * 260, r"characters long; accepted: at most 255"),
    ("oci:relative/path:1", r"path 'relative/path' is not absolute"),
    ("oci:", r"oci: needs a path"),
    ("oci:/srv/x:", r"the name after the path is empty"),
    ("oci:/srv/x:bad name", r"image name 'bad name' in the layout is not valid"),
    ("dir:", r"dir: needs a path"),
])
def test_bad_references_say_what_is_accepted(text, message):
    with pytest.raises(ImageRefError, match=message):
        parse_reference(text)


def test_not_a_string():
    with pytest.raises(ImageRefError, match="is not a string"):
        parse_reference(42)


def test_short_names_allowed_when_asked():
    ref = parse_reference("app:1", require_qualified=False)
    assert ref.registry is None and ref.name == "app" and str(ref) == "app:1"


@pytest.mark.parametrize("text, expected", [
    ("registry.example:5000/app", (None, "registry.example:5000/app")),
    ("localhost:5000/app", (None, "localhost:5000/app")),
    ("oci:/x", ("oci", "/x")),
    ("docker://r.example/a", ("docker", "r.example/a")),
    ("weird://x", ("weird", "//x")),
    ("plain", (None, "plain")),
])
def test_split_transport(text, expected):
    assert split_transport(text) == expected


def test_with_tag_and_equality():
    ref = parse_reference(f"registry.example/app@{DIGEST}")
    assert str(ref.with_tag("2")) == "registry.example/app:2"
    assert ref == parse_reference(f"docker://registry.example/app@{DIGEST}")
    assert ref != ImageRef("docker", registry="registry.example", repository="app", tag="latest")
    assert len({ref, parse_reference(f"registry.example/app@{DIGEST}")}) == 1


@pytest.mark.parametrize("a, b, same", [
    ("8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61",
     "sha256:8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61", True),
    ("8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61", "8829427e7970", True),
    ("8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61", "8829427e", False),
    ("8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61", "04d8054dc46c", False),
    (None, "04d8054dc46c", False),
])
def test_image_id_matches(a, b, same):
    assert image_id_matches(a, b) is same
