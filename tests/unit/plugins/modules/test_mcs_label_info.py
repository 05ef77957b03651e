# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.mcs_label_info module, run through main() against files in tmp_path."""

from __future__ import annotations

import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils._mcs import McsAllocator
from ansible_collections.containerhost.platform.plugins.modules import mcs_label_info


@pytest.fixture
def state_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the record lives; the fake /sys has SELinux permissive."""
    enforce = tmp_path / "root" / "sys" / "fs" / "selinux" / "enforce"
    enforce.parent.mkdir(parents=True)
    enforce.write_text("0\n")
    monkeypatch.setattr(mcs_label_info, "_ROOT", str(tmp_path / "root"))
    return tmp_path / "mcs" / "allocations.json"


@pytest.fixture
def run(state_path, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(fail: bool = False, **args: t.Any) -> dict[str, t.Any]:
        return run_main(mcs_label_info.main, {"state_path": str(state_path), **args}, fail=fail)

    return _run


def test_no_record_is_no_allocations_and_creates_nothing(state_path, run):
    assert run() == {"changed": False, "allocations": {}, "missing": [], "selinux": "permissive"}
    assert run(_ansible_check_mode=True)["allocations"] == {}
    assert not state_path.parent.exists()


def test_lists_all_or_the_names_asked(state_path, run):
    McsAllocator(str(state_path)).save({"web": "s0:c5,c6", "db": "s0:c1,c2", "cache": "s0:c9,c10"})
    assert run()["allocations"] == {"cache": "s0:c9,c10", "db": "s0:c1,c2", "web": "s0:c5,c6"}
    assert list(run()["allocations"]) == ["cache", "db", "web"]
    result = run(names=["web", "gone", "db", "gone"])
    assert result["allocations"] == {"db": "s0:c1,c2", "web": "s0:c5,c6"} and result["missing"] == ["gone"]
    assert sorted(p.name for p in state_path.parent.iterdir()) == ["allocations.json"]


def test_bad_input_and_damaged_record_fail_naming_the_field(state_path, run):
    assert run(names=["ok", "not ok"], fail=True)["msg"] == (
        "names[1]: 'not ok' contains whitespace or control characters, which names may not")
    state_path.parent.mkdir()
    state_path.write_text(json.dumps({"version": 7, "allocations": {}}))
    assert run(fail=True)["msg"] == f"state_path: {state_path} has version 7; this collection reads version 1"
