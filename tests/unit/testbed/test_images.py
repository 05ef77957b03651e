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
