# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the etcd_pki action plugin, run through the real ActionModule on a temporary directory."""

from __future__ import annotations

import stat
import typing as t

from pathlib import Path
from unittest.mock import MagicMock

import pytest

from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.template import Templar

from ansible_collections.containerhost.platform.plugins.action.etcd_pki import ActionModule

MEMBERS = [{"name": "h1", "addresses": ["10.0.0.1", "h1"], "peer_url": "ignored"}, {"name": "h2", "addresses": []}]


def run_action(args: dict[str, t.Any], check_mode: bool = False) -> dict[str, t.Any]:
    """Run the real ActionModule with a fake task; it must never contact a host."""
    task = MagicMock(spec=Task)
    task.args = args
    task.action = "containerhost.platform.etcd_pki"
    task.async_val = 0
    task.check_mode = check_mode
    connection = MagicMock()
    connection._shell.tmpdir = None
    loader = DataLoader()
    action = ActionModule(task, connection, PlayContext(), loader, Templar(loader=loader, variables={}),
                          shared_loader_obj=None)
    action._execute_module = MagicMock(side_effect=AssertionError("the etcd_pki action contacted the host"))
    return action.run(task_vars={})


def test_check_mode_writes_nothing_and_predicts(tmp_path: Path) -> None:
    """Check mode returns the certificates it would write and leaves the directory absent."""
    result = run_action({"dir": str(tmp_path / "pki"), "members": MEMBERS}, check_mode=True)
    assert result["changed"] is True
    assert "ca.crt" in result["files_changed"]
    assert not (tmp_path / "pki").exists()
    assert result["members"]["h1"]["cert"].startswith("-----BEGIN CERTIFICATE-----")


def test_first_run_writes_private_files_then_reuses_them(tmp_path: Path) -> None:
    """The first run writes 0600 files in a 0700 directory; the second returns the same PEMs, unchanged."""
    directory = tmp_path / "pki"
    first = run_action({"dir": str(directory), "members": MEMBERS})
    assert first["changed"] is True
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert sorted(p.name for p in directory.iterdir()) == sorted(first["files_changed"])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in directory.iterdir())
    second = run_action({"dir": str(directory), "members": MEMBERS})
    assert second["changed"] is False and second["files_changed"] == []
    assert second["ca_cert"] == first["ca_cert"]
    assert second["members"] == first["members"] and second["client"] == first["client"]


@pytest.mark.parametrize("members", [
    [{"name": "client", "addresses": []}],
    [{"name": "ca", "addresses": []}],
    [{"name": "bad name", "addresses": []}],
    [{"name": "h1"}, {"name": "h1"}],
])
def test_unusable_member_names_fail(tmp_path: Path, members: list[dict[str, t.Any]]) -> None:
    """Names that would clash with the PKI's own files, or each other, are refused before anything is written."""
    with pytest.raises(AnsibleActionFail, match="members:"):
        run_action({"dir": str(tmp_path / "pki"), "members": members})
    assert not (tmp_path / "pki").exists()
