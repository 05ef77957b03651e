# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Loaders shared by the role schema tests: a role's YAML files and its task list with imports inlined."""

from __future__ import annotations

import typing as t

from pathlib import Path

import yaml


def load_yaml(path: Path) -> t.Any:
    """A YAML file of a role."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def role_tasks(role: Path, name: str = "main.yml") -> list[dict[str, t.Any]]:
    """The tasks of tasks/<name>, with ansible.builtin.import_tasks replaced by the tasks it imports (which take
    the import's tags, as Ansible applies them)."""
    tasks: list[dict[str, t.Any]] = []
    for task in load_yaml(role / "tasks" / name):
        imported = task.get("ansible.builtin.import_tasks")
        if imported:
            tags = task.get("tags", [])
            tasks.extend({**sub, "tags": [*tags, *sub.get("tags", [])]} if tags else sub
                         for sub in role_tasks(role, imported["file"]))
        else:
            tasks.append(task)
    return tasks


def role_defaults(role: Path) -> dict[str, t.Any]:
    """The role's defaults/main.yml."""
    return load_yaml(role / "defaults" / "main.yml")


def role_spec_options(role: Path) -> dict[str, dict[str, t.Any]]:
    """The options of the role's main entry point (meta/argument_specs.yml)."""
    return load_yaml(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
