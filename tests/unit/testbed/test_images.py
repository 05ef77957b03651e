"""Unit tests for the testbed's test images (pure parts)."""

from __future__ import annotations

import base64
import json

import pytest

import _images


@pytest.mark.parametrize("variant", ["v1", "base", "a.b-c_d", "0"])
def test_image_ref(variant):
    assert _images.image_ref(variant) == f"localhost/chtest/busybox:{variant}"


@pytest.mark.parametrize("variant", ["", "V1", "-v", "a/b", "a:b", "x" * 65])
def test_bad_variants_are_refused(variant):
    with pytest.raises(SystemExit, match="must match"):
        _images.image_ref(variant)


def test_applet_links():
    listing = "usr/bin/[\nbin/sh\nlinuxrc\nbin/busybox\n/sbin/init\nbin/sh\n../etc/passwd\n\n"
    assert _images.applet_links(listing) == ["bin/sh", "sbin/init", "usr/bin/["]


def test_changes_differ_by_variant_and_carry_the_recipe():
    first, second = _images.changes("v1", "abc"), _images.changes("v2", "abc")
    assert first != second
    assert f"LABEL {_images.VARIANT_LABEL}=v1" in first
    assert f"LABEL {_images.RECIPE_LABEL}=abc" in first
    assert "ENV CHTEST_VARIANT=v1" in first
    assert any(change.startswith("CMD ") for change in first)


def test_auth_file_text():
    data = json.loads(_images.auth_file_text("172.29.223.1:5001", "chtest", "pw:with:colons"))
    token = data["auths"]["172.29.223.1:5001"]["auth"]
    assert base64.b64decode(token).decode() == "chtest:pw:with:colons"


@pytest.mark.parametrize("destination", ["Bad/Upper:1", "chtest/app:", "/lead", "a//b", "a:b:c"])
def test_push_refuses_bad_destinations(destination, tmp_path):
    registry = {"tls_registry": "172.29.223.1:5000", "auth_registry": "172.29.223.1:5001"}
    with pytest.raises(SystemExit, match="must be repository"):
        _images.push("v1", destination, registry, work_dir=tmp_path)


# ---- etcd as a system container image

def test_etcd_image_refs_and_unknown_kinds():
    assert _images.image_ref("v1", "etcd") == "localhost/chtest/etcd:v1"
    with pytest.raises(SystemExit, match="unknown test image 'nginx'"):
        _images.image_ref("v1", "nginx")


def test_etcd_template_sets_variables_only_and_uses_the_default_values():
    template = _images.etcd_template("v1")
    assert template["process"]["args"] == ["/usr/bin/etcd"]
    env = dict(entry.split("=", 1) for entry in template["process"]["env"])
    # etcd refuses a setting given both as a flag and as a variable: the template has no flags.
    assert all(not arg.startswith("--") for arg in template["process"]["args"])
    assert env["ETCD_NAME"] == "$ETCD_NAME" and env["ETCD_INITIAL_CLUSTER"] == "$ETCD_NAME=$ETCD_PEER_URLS"
    names = {word[1:].split("=")[0] for value in env.values() for word in value.split("$")[1:] for word in [f"${word}"]}
    assert names <= set(_images.etcd_manifest()["defaultValues"])
    assert _images.etcd_manifest()["defaultValues"]["ETCD_CLIENT_URLS"] == "http://127.0.0.1:2379"
    assert template["annotations"] == {_images.VARIANT_LABEL: "v1"}


def test_a_bad_variant_exits_at_once_and_has_no_values_in_its_command():
    assert _images.is_bad("bad") and _images.is_bad("bad-2") and not _images.is_bad("v1")
    assert _images.etcd_template("bad")["process"]["args"] == _images.BAD_COMMAND
    assert "exit 1" in _images.BAD_COMMAND[-1] and "$" not in " ".join(_images.BAD_COMMAND)
    changes = _images.etcd_changes("bad", "r")
    assert f"ENTRYPOINT {json.dumps(_images.BAD_COMMAND)}" in changes


def test_etcd_changes_differ_by_variant_and_configure_etcd_without_the_template():
    first, second = _images.etcd_changes("v1", "abc"), _images.etcd_changes("v2", "abc")
    assert first != second
    assert 'ENTRYPOINT ["/usr/bin/etcd"]' in first
    assert "ENV ETCD_DATA_DIR=/var/lib/etcd" in first
    assert "ENV ETCD_INITIAL_CLUSTER=default=http://127.0.0.1:2380" in first
    assert f"LABEL {_images.RECIPE_LABEL}=abc" in first and "EXPOSE 2379/tcp" in first


def test_etcd_recipe_changes_with_the_variant_and_the_packages(tmp_path):
    debs = []
    for name in ("etcd-server", "libc6", "busybox-static"):
        deb = tmp_path / f"{name}.deb"
        deb.write_bytes(name.encode())
        debs.append(deb)
    recipe = _images.etcd_recipe("v1", debs)
    assert recipe == _images.etcd_recipe("v1", debs)
    assert recipe != _images.etcd_recipe("v2", debs)
    debs[0].write_bytes(b"another etcd")
    assert recipe != _images.etcd_recipe("v1", debs)


def test_push_refuses_unknown_image_kinds(tmp_path):
    registry = {"tls_registry": "172.29.223.1:5000", "auth_registry": "172.29.223.1:5001"}
    with pytest.raises(SystemExit, match="unknown test image"):
        _images.push("v1", "chtest/x:1", registry, work_dir=tmp_path, kind="nginx")
