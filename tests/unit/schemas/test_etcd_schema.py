# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""schemas/etcd.json: good and bad documents, and the schema, argument specs, defaults and role in step."""

from __future__ import annotations

import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.plugin_utils import _schema_validation as sv

from _roles import load_yaml, role_defaults, role_spec_options, role_tasks

COLLECTION_ROOT = Path(sv.__file__).resolve().parents[2]
SCHEMA_PATH = COLLECTION_ROOT / "schemas" / "etcd.json"
ROLE = COLLECTION_ROOT / "roles" / "etcd"
PREFIX = "etcd_"

# What the templated defaults become on a testbed host (the validate action templates them before checking).
TEMPLATED = {
    "etcd_name": "h1",
    "etcd_address": "172.29.224.11",
    "etcd_pki_dir": "/work/inventory/.etcd-pki/containerhost-etcd",
}


def defaults() -> dict[str, t.Any]:
    """The role's defaults/main.yml."""
    return role_defaults(ROLE)


def spec_options() -> dict[str, dict[str, t.Any]]:
    """The options of the role's main entry point."""
    return role_spec_options(ROLE)


def document(**overrides: t.Any) -> dict[str, t.Any]:
    """The templated role defaults with some variables replaced."""
    return {**defaults(), **TEMPLATED, **overrides}


def issue_paths(schema: dict[str, t.Any], instance: dict[str, t.Any]) -> list[str]:
    """The variable path of every issue, as the validate action reports them."""
    return [issue.path for issue in sv.validate_instance(schema, instance)]


def test_defaults_are_in_argument_specs_and_schema(schema: dict[str, t.Any]) -> None:
    """Every default variable is an argument spec option and a schema property, and nothing more is declared."""
    names = set(defaults())
    assert names == set(spec_options())
    assert names == set(sv.declared_variables(schema))
    assert names == set(schema["required"])
    assert all(name.startswith(PREFIX) for name in names)


def test_argument_spec_defaults_and_types_match(schema: dict[str, t.Any]) -> None:
    """The argument specs document the defaults of defaults/main.yml with the schema's types."""
    json_types = {"list": "array", "bool": "boolean", "path": "string", "str": "string", "int": "integer",
                  "dict": "object"}
    for name, option in spec_options().items():
        assert option["default"] == defaults()[name], name
        assert option.get("description"), name
        prop = schema["properties"][name]
        declared = prop.get("type") or schema["$defs"][prop["$ref"].rsplit("/", 1)[1]]["type"]
        assert json_types[option["type"]] == declared, name
        if "choices" in option:
            assert option["choices"] == prop["enum"], name


def test_templated_defaults_are_valid(schema: dict[str, t.Any]) -> None:
    """The role with no variables set passes its own schema once its templates are rendered."""
    assert issue_paths(schema, document()) == []


def test_every_field_has_title_and_description(schema: dict[str, t.Any]) -> None:
    """Each property says what it is, for the validate action's messages."""
    for name, prop in schema["properties"].items():
        assert prop.get("title") and prop.get("description"), name


@pytest.mark.parametrize(("overrides", "path"), [
    ({"etcd_client_port": 0}, "etcd_client_port"),
    ({"etcd_peer_port": 70000}, "etcd_peer_port"),
    ({"etcd_data_dir": "var/lib/etcd"}, "etcd_data_dir"),
    ({"etcd_name": "client"}, "etcd_name"),
    ({"etcd_name": "bad name"}, "etcd_name"),
    ({"etcd_address": "https://10.0.0.1:2379"}, "etcd_address"),
    ({"etcd_quota_backend_bytes": 1024}, "etcd_quota_backend_bytes"),
    ({"etcd_snapshot_count": 0}, "etcd_snapshot_count"),
    ({"etcd_heartbeat_interval": 5}, "etcd_heartbeat_interval"),
    ({"etcd_election_timeout": 60000}, "etcd_election_timeout"),
    ({"etcd_pki_source": "vault"}, "etcd_pki_source"),
    ({"etcd_pki_files": {"ca": "/x"}}, "etcd_pki_files"),
    ({"etcd_packages": []}, "etcd_packages"),
    ({"etcd_cluster_token": "has space"}, "etcd_cluster_token"),
    ({"etcd_group": "etcd-nodes"}, "etcd_group"),
    ({"etcd_health_timeout": 1}, "etcd_health_timeout"),
])
def test_bad_values_are_refused_by_path(schema: dict[str, t.Any], overrides: dict[str, t.Any], path: str) -> None:
    """Each bad value is reported under its variable."""
    paths = issue_paths(schema, document(**overrides))
    assert paths and all(p.startswith(path) for p in paths), paths


def test_user_files_need_all_five(schema: dict[str, t.Any]) -> None:
    """With etcd_pki_source files every file must be named; with all five the document passes."""
    files = {"ca_cert": "/p/ca.crt", "cert": "/p/h1.crt", "key": "/p/h1.key", "client_cert": "/p/c.crt",
             "client_key": "/p/c.key"}
    assert issue_paths(schema, document(etcd_pki_source="files", etcd_pki_files=files)) == []
    partial = {k: v for k, v in files.items() if k != "key"}
    assert issue_paths(schema, document(etcd_pki_source="files", etcd_pki_files=partial))
    assert issue_paths(schema, document(etcd_pki_source="files"))


def test_unknown_variable_is_refused(schema: dict[str, t.Any]) -> None:
    """A misspelt variable is reported instead of being ignored."""
    assert issue_paths(schema, document(etcd_snapshot_cnt=5))


def test_internal_vars_are_private() -> None:
    """vars/main.yml holds only internal __etcd_* variables."""
    names = set(load_yaml(ROLE / "vars" / "main.yml"))
    assert names and all(name.startswith("__" + PREFIX) for name in names)


def test_defaults_file_comments_every_variable() -> None:
    """Each public variable in defaults/main.yml is preceded by a comment line."""
    lines = (ROLE / "defaults" / "main.yml").read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.startswith(PREFIX):
            assert lines[index - 1].startswith("#"), line


def _tasks(path: Path) -> t.Iterator[dict[str, t.Any]]:
    """Every task of a task file."""
    yield from load_yaml(path)


def test_role_conventions() -> None:
    """Validation first; every task named, FQCN, loops on __etcd_* variables; the template carries the fingerprint."""
    assert role_tasks(ROLE)[0]["containerhost.platform.validate"] == {"schema": "etcd"}
    for path in [*(ROLE / "tasks").glob("*.yml"), ROLE / "handlers" / "main.yml"]:
        for task in _tasks(path):
            assert task["name"].startswith("Etcd | "), (path.name, task["name"])
            module = [key for key in task if key.startswith(("ansible.", "containerhost.platform."))]
            assert len(module) == 1, (path.name, task["name"])
            if "loop" in task:
                assert task["loop_control"]["loop_var"].startswith("__etcd_"), task["name"]
    template = (ROLE / "templates" / "etcd.default.j2").read_text(encoding="utf-8").splitlines()
    assert template[0] == "{{ ansible_managed | comment }}"
    assert "# containerhost.platform:etcd" in template


def test_apt_does_not_update_the_cache() -> None:
    """Packages are installed without an apt cache update (a no-op when present)."""
    apt = [task["ansible.builtin.apt"] for task in _tasks(ROLE / "tasks" / "main.yml") if "ansible.builtin.apt" in task]
    assert apt == [{"name": "{{ __etcd_install_packages }}", "state": "present", "update_cache": False,
                    "install_recommends": False}]
