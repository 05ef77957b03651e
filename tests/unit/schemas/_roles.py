# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared by the role schema tests: a role's YAML files, its task list with imports inlined, its schema, its
defaults as the validate action sees them, and the issues the schema reports."""

from __future__ import annotations

import functools
import typing as t

from pathlib import Path

import yaml

from ansible_collections.containerhost.platform.plugins.plugin_utils import _schema_validation as sv

COLLECTION_ROOT = Path(sv.__file__).resolve().parents[2]
ROLES_DIR = COLLECTION_ROOT / "roles"
SCHEMAS_DIR = COLLECTION_ROOT / "schemas"

# What the templated defaults of a role become on a testbed host (the validate action templates them before
# checking); roles not named here have no templated defaults.
TEMPLATED_DEFAULTS: dict[str, dict[str, t.Any]] = {
    "etcd": {
        "etcd_name": "h1",
        "etcd_address": "172.29.224.11",
        "etcd_pki_dir": "/work/inventory/.etcd-pki/containerhost-etcd",
    },
    "flannel": {
        "flannel_etcd_pki_dir": "/work/inventory/.etcd-pki/containerhost-etcd",
        "flannel_public_ip": "172.29.220.11",
        "flannel_binary_path": "/usr/local/bin/flanneld",
    },
}


def load_yaml(path: Path) -> t.Any:
    """A YAML file of a role."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def role_names() -> list[str]:
    """Every role of the collection with an argument spec (each has a schema of the same name)."""
    return sorted(spec.parents[1].name for spec in ROLES_DIR.glob("*/meta/argument_specs.yml"))


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


def file_tasks(path: Path) -> t.Iterator[dict[str, t.Any]]:
    """Every task of a task or handler file, blocks first and then the tasks of their block, rescue and always, at
    any depth."""
    for task in load_yaml(path) or []:
        yield from _with_block_tasks(task)


def _with_block_tasks(task: dict[str, t.Any]) -> t.Iterator[dict[str, t.Any]]:
    yield task
    for part in ("block", "rescue", "always"):
        for sub in task.get(part) or []:
            yield from _with_block_tasks(sub)


def written_templates(role: Path) -> set[str]:
    """The templates the role writes to hosts: the src of every ansible.builtin.template task (its other templates
    are rendered on the controller, by lookup)."""
    return {task["ansible.builtin.template"]["src"]
            for path in [*(role / "tasks").glob("*.yml"), *(role / "handlers").glob("*.yml")]
            for task in file_tasks(path) if "ansible.builtin.template" in task}


def role_defaults(role: Path) -> dict[str, t.Any]:
    """The role's defaults/main.yml."""
    return load_yaml(role / "defaults" / "main.yml")


def role_document(role: Path, **overrides: t.Any) -> dict[str, t.Any]:
    """The role's defaults as the validate action sees them on a testbed host (templated ones rendered), with some
    variables replaced."""
    return {**role_defaults(role), **TEMPLATED_DEFAULTS.get(role.name, {}), **overrides}


def role_spec_options(role: Path) -> dict[str, dict[str, t.Any]]:
    """The options of the role's main entry point (meta/argument_specs.yml)."""
    return load_yaml(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


@functools.lru_cache(maxsize=None)
def role_schema(name: str) -> dict[str, t.Any]:
    """The shipped schemas/<name>.json, checked against the Draft 2020-12 meta-schema (loaded once; do not
    change it)."""
    return sv.load_schema(SCHEMAS_DIR / f"{name}.json")


def issue_paths(schema: dict[str, t.Any], instance: dict[str, t.Any]) -> list[str]:
    """The variable path of every issue, as the validate action reports them."""
    return [issue.path for issue in sv.validate_instance(schema, instance)]


def issues(schema: dict[str, t.Any], instance: dict[str, t.Any]) -> list[tuple[str, str]]:
    """(path, message) of every issue, as the validate action reports them."""
    return [(issue.path, issue.message) for issue in sv.validate_instance(schema, instance)]


def resolved(schema: dict[str, t.Any], prop: dict[str, t.Any]) -> dict[str, t.Any]:
    """A property with its $ref (to the schema's own $defs) followed."""
    return schema["$defs"][prop["$ref"].rsplit("/", 1)[1]] if "$ref" in prop else prop


def schema_fields(node: t.Any, path: str = "") -> t.Iterator[tuple[str, dict[str, t.Any]]]:
    """Every property, item and $defs schema below node, with a readable path."""
    if not isinstance(node, dict):
        return
    for name, sub in node.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from schema_fields(sub, f"{path}.{name}")
    for name, sub in node.get("$defs", {}).items():
        yield f"$defs.{name}", sub
        yield from schema_fields(sub, f"$defs.{name}")
    if isinstance(node.get("items"), dict):
        yield f"{path}[]", node["items"]
        yield from schema_fields(node["items"], f"{path}[]")
