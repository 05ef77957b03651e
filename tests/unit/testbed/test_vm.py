"""Unit tests for the testbed VM recipe, kernel command line and SELinux variant."""

from __future__ import annotations

import pytest

import _vm
from _rootfs import recipe_digest

PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests containerhost-testbed"


def test_plain_recipe_has_no_selinux_part_and_keeps_its_digest():
    recipe = _vm._recipe("rootfsdigest", PUBKEY)
    assert "selinux" not in recipe
    assert sorted(recipe) == ["enabled", "files", "masked", "packages", "pubkey", "rootfs", "size", "version"]
    # The digest names the cached image: a change here rebuilds every testbed's plain VM image.
    assert recipe_digest(_vm._recipe("abc", "ssh-ed25519 KEY")) == "7d0cbfa7df0cca00"


def test_selinux_recipe_differs_and_names_its_parts():
    plain = _vm._recipe("rootfsdigest", PUBKEY)
    selinux = _vm._recipe("rootfsdigest", PUBKEY, selinux=True)
    assert {key: value for key, value in selinux.items() if key != "selinux"} == plain
    assert selinux["selinux"]["modules"] == ["container"]
    assert "selinux-policy-default" in selinux["selinux"]["packages"]
    assert selinux["selinux"]["files"]["etc/selinux/config"] == "SELINUX=permissive\nSELINUXTYPE=default\n"
    assert recipe_digest(selinux) != recipe_digest(plain)


def test_image_prefixes_keep_the_variants_apart():
    assert _vm.image_prefix(False) == "vm-"
    assert _vm.image_prefix(True) == "vmse-"
    assert not _vm.image_prefix(True).startswith(_vm.image_prefix(False))


@pytest.mark.parametrize(
    ("selinux", "tail"),
    [
        ("", "systemd.unified_cgroup_hierarchy=1"),
        ("permissive", "systemd.unified_cgroup_hierarchy=1 security=selinux selinux=1 enforcing=0"),
        ("enforcing", "systemd.unified_cgroup_hierarchy=1 security=selinux selinux=1 enforcing=1"),
    ],
)
def test_kernel_append(selinux, tail):
    append = _vm.kernel_append("vm1", selinux)
    assert append.startswith("root=/dev/vda rw console=ttyS0 systemd.hostname=vm1 ")
    assert append.endswith(tail)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ""), ("", ""), ("off", ""), ("0", ""), ("1", "enforcing"), ("Enforcing", "enforcing"),
     ("permissive", "permissive")],
)
def test_selinux_mode(value, expected):
    assert _vm.selinux_mode(value) == expected


def test_selinux_mode_rejects_unknown_values():
    with pytest.raises(SystemExit, match="permissive, enforcing or off, not 'strict'"):
        _vm.selinux_mode("strict")
