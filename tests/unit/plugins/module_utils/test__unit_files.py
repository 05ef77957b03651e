# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for unit names, unit file rendering and atomic writes."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _unit_files as uf


@pytest.mark.parametrize(
    ("name", "suffix", "expected"),
    [
        ("tenant.slice", "slice", "tenant.slice"),
        ("tenant", "slice", "tenant.slice"),
        ("tenant-a-web.slice", "slice", "tenant-a-web.slice"),
        ("machine.slice", "slice", "machine.slice"),
        ("a_b:c.d.slice", "slice", "a_b:c.d.slice"),
        ("x\\x2dy.slice", "slice", "x\\x2dy.slice"),
        ("nginx.service", ("service", "scope", "socket", "mount", "swap"), "nginx.service"),
        ("nginx", ("service", "scope"), "nginx.service"),
        ("getty@tty1.service", "service", "getty@tty1.service"),
        ("var-lib-containers.mount", ("service", "mount"), "var-lib-containers.mount"),
        ("run-u1.scope", None, "run-u1.scope"),
        ("a" * 249 + ".slice", "slice", "a" * 249 + ".slice"),
    ],
)
def test_valid_unit_names(name, suffix, expected):
    assert uf.validate_unit_name(name, suffix) == expected


@pytest.mark.parametrize(
    ("name", "suffix", "fragment"),
    [
        ("tenant.service", "slice", "suffix .service; accepted here: .slice"),
        ("tenant.slcie", "slice", "unknown unit suffix .slcie"),
        ("-tenant.slice", "slice", "may not lead, trail or be doubled"),
        ("tenant-.slice", "slice", "may not lead, trail or be doubled"),
        ("tenant--a.slice", "slice", "may not lead, trail or be doubled"),
        ("-.slice", "slice", "root slice"),
        ("ten ant.slice", "slice", "contains ' '"),
        ("tenant/a.slice", "slice", "contains '/'"),
        ("tenant@a.slice", "slice", "cannot be templates"),
        (".slice", "slice", "nothing before"),
        ("tenant.", "slice", "ends with a dot"),
        ("", "slice", "non-empty string"),
        (None, "slice", "non-empty string"),
        (5, "slice", "non-empty string"),
        ("a" * 250 + ".slice", "slice", "at most 255"),
        ("x\\y.slice", "slice", "backslash must start an escape"),
        ("@x.service", "service", "one '@'"),
        ("a@b@c.service", "service", "one '@'"),
        ("nginx.timer", ("service", "scope"), "accepted here: .service or .scope"),
    ],
)
def test_invalid_unit_names(name, suffix, fragment):
    with pytest.raises(uf.UnitNameError) as exc_info:
        uf.validate_unit_name(name, suffix)
    assert fragment in str(exc_info.value)


@pytest.mark.parametrize(
    ("name", "parents", "parent", "cgroup"),
    [
        ("a.slice", [], "-.slice", "a.slice"),
        ("a-b.slice", ["a.slice"], "a.slice", "a.slice/a-b.slice"),
        ("a-b-c.slice", ["a.slice", "a-b.slice"], "a-b.slice", "a.slice/a-b.slice/a-b-c.slice"),
        ("-.slice", [], "-.slice", "-.slice"),
    ],
)
def test_slice_nesting(name, parents, parent, cgroup):
    assert uf.slice_parents(name) == parents
    assert uf.slice_parent(name) == parent
    assert uf.slice_cgroup_path(name) == cgroup


def test_render_unit_header_sections_and_lists():
    text = uf.render_unit(uf.managed_header("slice"), {
        "Unit": {"Description": "Tenant A"},
        "Slice": {"CPUWeight": "200", "IODeviceWeight": "/dev/sda 100\n/dev/sdb 200"},
        "Install": {},
    })
    assert text == (
        "# Ansible managed: containerhost.platform.slice\n"
        "# Changes are overwritten by the next run; change the playbook instead.\n"
        "# containerhost.platform:slice\n"
        "\n[Unit]\nDescription=Tenant A\n"
        "\n[Slice]\nCPUWeight=200\nIODeviceWeight=/dev/sda 100\nIODeviceWeight=/dev/sdb 200\n"
    )
    assert uf.has_fingerprint(text, "slice")
    assert not uf.has_fingerprint(text, "unit_resources")
    assert not uf.has_fingerprint(None, "slice")


def test_render_unit_without_header():
    assert uf.render_unit([], {"Slice": {"TasksMax": "10"}}) == "[Slice]\nTasksMax=10\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Tenant A", "Tenant A"), ("  50% CPU  ", "50%% CPU"), ("x%i", "x%%i")],
)
def test_escape_value(value, expected):
    assert uf.escape_value(value) == expected


@pytest.mark.parametrize("value", ["two\nlines", "tab\there", "ends with \\"])
def test_escape_value_refuses(value):
    with pytest.raises(ValueError):
        uf.escape_value(value)


class FakeModule:
    """Only atomic_move, as AnsibleModule does it (a rename)."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []

    def atomic_move(self, src: str, dest: str) -> None:
        """Record and rename."""
        self.moves.append((src, dest))
        os.rename(src, dest)


def test_atomic_write_creates_replaces_and_leaves_no_temp(tmp_path):
    module = FakeModule()
    target = tmp_path / "sub" / "a.slice"
    uf.atomic_write(module, str(target), "one\n")
    assert target.read_text() == "one\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o600)
    uf.atomic_write(module, str(target), "two\n", mode=0o640)
    assert target.read_text() == "two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.slice"]
    # The temporary file lives in the target's directory, so the move is a rename on one filesystem.
    assert all(os.path.dirname(src) == str(target.parent) for src, _dest in module.moves)


def test_read_and_remove(tmp_path):
    path = tmp_path / "x.slice"
    assert uf.read_text_or_none(str(path)) is None
    path.write_text("x")
    assert uf.read_text_or_none(str(path)) == "x"
    assert uf.remove_file(str(path)) is True
    assert uf.remove_file(str(path)) is False
    directory = tmp_path / "x.slice.d"
    directory.mkdir()
    (directory / "keep.conf").write_text("")
    assert uf.remove_empty_dir(str(directory)) is False
    (directory / "keep.conf").unlink()
    assert uf.remove_empty_dir(str(directory)) is True
    assert uf.remove_empty_dir(str(directory)) is False
