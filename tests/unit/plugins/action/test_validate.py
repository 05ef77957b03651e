# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.validate action plugin, run through the real ActionModule."""

from __future__ import annotations

import typing as t

from pathlib import Path
from unittest.mock import MagicMock

import pytest

from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.template import Templar, trust_as_template

from ansible_collections.containerhost.platform.plugins.action.validate import ActionModule
from ansible_collections.containerhost.platform.plugins.plugin_utils import _schema_validation as sv

# What the host_report role defaults provide.
GOOD_VARS: dict[str, t.Any] = {
    "host_report_gather_subset": ["all"],
    "host_report_storage_paths": ["/var/lib/containers", "/"],
    "host_report_min_free_mib": 1024,
    "host_report_fail_on_low_space": False,
}
HOST_REPORT_NAMES = sorted(GOOD_VARS)


def run_action(
    args: dict[str, t.Any],
    task_vars: dict[str, t.Any],
    playbook_dir: Path | None = None,
    check_mode: bool = False,
) -> tuple[dict[str, t.Any], MagicMock]:
    """Run the real ActionModule with a fake task and connection; return its result and the connection."""
    task = MagicMock(spec=Task)
    task.args = args
    task.action = "containerhost.platform.validate"
    task.async_val = 0
    task.check_mode = check_mode
    connection = MagicMock()
    connection._shell.tmpdir = None
    loader = DataLoader()
    if playbook_dir is not None:
        task_vars = {**task_vars, "playbook_dir": str(playbook_dir)}
    templar = Templar(loader=loader, variables=task_vars)
    action = ActionModule(task, connection, PlayContext(), loader, templar, shared_loader_obj=None)
    # The action must never reach the host: any module execution is a test failure.
    action._execute_module = MagicMock(side_effect=AssertionError("the validate action contacted the host"))
    return action.run(task_vars=task_vars), connection


@pytest.mark.parametrize("check_mode", [False, True])
def test_valid_vars_pass_without_touching_the_host(check_mode: bool) -> None:
    """The role defaults are valid; nothing runs on the host, in or out of check mode."""
    result, connection = run_action({"schema": "host_report"}, {**GOOD_VARS, "unrelated": 1}, check_mode=check_mode)
    assert result == {"changed": False, "msg": "4 variables valid against host_report", "validated": HOST_REPORT_NAMES}
    assert not connection.exec_command.called
    assert not connection.put_file.called


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        pytest.param(
            "host_report_min_free_mib",
            "plenty",
            "host_report_min_free_mib: 'plenty' is not of type 'integer'; expected an integer number of MiB from 0 to 1048576; "
            "a storage path with less free space than this is flagged as low on space",
            id="wrong-type",
        ),
        pytest.param(
            "host_report_min_free_mib",
            2_000_000,
            "host_report_min_free_mib: 2000000 is greater than the maximum of 1048576; expected an integer number of MiB "
            "from 0 to 1048576; a storage path with less free space than this is flagged as low on space",
            id="out-of-range",
        ),
        pytest.param(
            "host_report_fail_on_low_space",
            "yes",
            "host_report_fail_on_low_space: 'yes' is not of type 'boolean'; expected a boolean (true or false): true fails "
            "the host when a storage path is low on space, false only reports it",
            id="string-for-bool",
        ),
        pytest.param(
            "host_report_storage_paths",
            ["/", "relative/dir"],
            "host_report_storage_paths[1]: 'relative/dir' does not match '^/'; expected an absolute path: starts with / "
            "and has no .. component",
            id="item-pattern",
        ),
    ],
)
def test_bad_role_variable_is_refused_naming_it(name: str, value: t.Any, line: str) -> None:
    """A role variable of the wrong type or out of range fails the task with a line naming the variable."""
    result, _connection = run_action({"schema": "host_report"}, {**GOOD_VARS, name: value})
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"].splitlines() == ["1 variable error against schema host_report:", line]
    path, rest = line.split(": ", 1)
    message, expected = rest.split("; expected ", 1)
    assert result["errors"] == [{"path": path, "message": message, "expected": expected}]


def test_all_errors_are_listed_sorted() -> None:
    """Several bad variables and one undefined variable are all reported, sorted by path."""
    task_vars = {**GOOD_VARS, "host_report_min_free_mib": -5, "host_report_gather_subset": ["cpu", "gpu"]}
    del task_vars["host_report_fail_on_low_space"]
    result, _connection = run_action({"schema": "host_report"}, task_vars)
    assert [e["path"] for e in result["errors"]] == [
        "host_report_fail_on_low_space",
        "host_report_gather_subset[1]",
        "host_report_min_free_mib",
    ]
    assert result["errors"][0]["message"] == "is required but not defined"
    assert result["msg"].splitlines()[0] == "3 variable errors against schema host_report:"
    assert result["validated"] == ["host_report_gather_subset", "host_report_min_free_mib", "host_report_storage_paths"]


def test_variables_are_templated_before_validation() -> None:
    """Templated variables are checked on their rendered value, not on the template string."""
    good = {**GOOD_VARS, "base_mib": 512, "host_report_min_free_mib": trust_as_template("{{ base_mib * 2 }}")}
    result, _connection = run_action({"schema": "host_report"}, good)
    assert result["msg"] == "4 variables valid against host_report"

    bad = {**good, "base_mib": 1_000_000}
    result, _connection = run_action({"schema": "host_report"}, bad)
    assert result["errors"][0]["message"] == "2000000 is greater than the maximum of 1048576"


def test_explicit_vars_are_validated_instead_of_task_vars() -> None:
    """With vars given, those values are checked (and unknown names refused), not the task variables."""
    explicit = {**GOOD_VARS, "host_report_min_free_mb": 5}
    result, _connection = run_action({"schema": "host_report", "vars": explicit}, {})
    assert result["msg"].splitlines()[1:] == [
        "host_report_min_free_mb: is not an allowed name; expected only these names: host_report_gather_subset, "
        "host_report_storage_paths, host_report_min_free_mib, host_report_fail_on_low_space"
    ]


def test_unknown_schema_name_lists_available_ones() -> None:
    """An unknown schema name fails and lists the schemas the collection has."""
    with pytest.raises(AnsibleActionFail) as exc_info:
        run_action({"schema": "host_reprot"}, GOOD_VARS)
    message = str(exc_info.value.message)
    assert message.startswith("Unknown schema name 'host_reprot'")
    available = message.split("available schemas: ", 1)[1].split(", ")
    assert "host_report" in available


def test_schema_path_relative_to_playbook_dir(tmp_path: Path) -> None:
    """A .json path is resolved against the playbook directory."""
    (tmp_path / "site.json").write_text('{"properties": {"site_name": {"type": "string", "description": "a site name"}}}')
    result, _connection = run_action({"schema": "site.json"}, {"site_name": 5}, playbook_dir=tmp_path)
    assert result["msg"].splitlines()[1] == "site_name: 5 is not of type 'string'; expected a site name"


def test_invalid_schema_file_is_named(tmp_path: Path) -> None:
    """A schema that is not valid JSON Schema fails naming its file."""
    (tmp_path / "broken.json").write_text('{"type": 12}')
    with pytest.raises(AnsibleActionFail, match=f"^Schema file {tmp_path}/broken.json is not a valid JSON Schema"):
        run_action({"schema": "broken.json"}, {}, playbook_dir=tmp_path)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"schema": "host_report", "varz": {}}, r"^Invalid options for containerhost\.platform\.validate: varz$"),
        ({}, r"^missing required arguments: schema$"),
        ({"schema": "host_report", "vars": "not a dict"}, r"argument 'vars' is of type str and we were unable to convert to dict"),
    ],
)
def test_bad_plugin_arguments_fail_clearly(args: dict[str, t.Any], error: str) -> None:
    """Plugin arguments are checked before anything else."""
    with pytest.raises(AnsibleActionFail, match=error):
        run_action(args, GOOD_VARS)


def test_missing_jsonschema_says_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without jsonschema on the controller, the task fails saying how to install it."""
    monkeypatch.setattr(sv, "JSONSCHEMA_IMPORT_ERROR", ImportError("No module named 'jsonschema'"))
    with pytest.raises(AnsibleActionFail, match=r"pip install jsonschema"):
        run_action({"schema": "host_report"}, GOOD_VARS)
