# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/plugin_utils/_schema_validation.py."""

from __future__ import annotations

import json
import typing as t

from pathlib import Path

import pytest
import yaml

from ansible_collections.containerhost.platform.plugins.plugin_utils import _schema_validation as sv

COLLECTION_ROOT = Path(sv.__file__).resolve().parents[2]
SCHEMAS_DIR = COLLECTION_ROOT / "schemas"

# A schema exercising each kind of error the formatter has to handle.
SCHEMA: dict[str, t.Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["count"],
    "properties": {
        "count": {"type": "integer", "minimum": 0, "maximum": 10, "description": "an integer from 0 to 10"},
        "name": {"type": "string", "pattern": "^[a-z]+$", "description": "lower-case letters"},
        "flag": {"type": "boolean", "title": "Flag title"},
        "bare": {"type": "integer"},
        "address": {"type": "string", "format": "ipv4", "description": "an IPv4 address"},
        "paths": {"type": "array", "items": {"type": "string", "pattern": "^/", "description": "an absolute path"}},
        "slices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["cpu_quota"],
                "properties": {"cpu_quota": {"type": "integer", "minimum": 1, "description": "a CPU quota in percent"}},
            },
        },
        "limits": {"type": "object", "additionalProperties": {"type": "integer", "description": "a limit in bytes"}},
        "size": {
            "title": "a size",
            "anyOf": [
                {"type": "integer", "minimum": 5, "description": "an integer of at least 5"},
                {"type": "string", "pattern": "^[0-9]+[KMG]$", "description": "a size such as 10M"},
            ],
        },
        "mode": {
            "description": "an integer or a string mode",
            "oneOf": [{"type": "integer"}, {"type": "string"}],
        },
        "refused": {"type": "string", "not": {"const": "root", "description": "the root user"}, "description": "a user name"},
    },
}


def issues_for(instance: dict[str, t.Any], schema: dict[str, t.Any] | None = None) -> list[dict[str, str]]:
    """Validate instance against SCHEMA (or schema) and return the issues as dicts."""
    return [issue.as_dict() for issue in sv.validate_instance(schema or SCHEMA, instance)]


@pytest.mark.parametrize(
    ("instance", "path", "message", "expected"),
    [
        pytest.param({"count": "3"}, "count", "'3' is not of type 'integer'", "an integer from 0 to 10", id="wrong-type"),
        pytest.param({"count": True}, "count", "True is not of type 'integer'", "an integer from 0 to 10", id="bool-is-not-int"),
        pytest.param({"count": 11}, "count", "11 is greater than the maximum of 10", "an integer from 0 to 10", id="above-max"),
        pytest.param({"count": -1}, "count", "-1 is less than the minimum of 0", "an integer from 0 to 10", id="below-min"),
        pytest.param({"count": 1, "name": "Abc"}, "name", "'Abc' does not match '^[a-z]+$'", "lower-case letters", id="pattern"),
        pytest.param({"count": 1, "flag": "yes"}, "flag", "'yes' is not of type 'boolean'", "Flag title", id="title-fallback"),
        pytest.param({"count": 1, "bare": "x"}, "bare", "'x' is not of type 'integer'", "'x' is not of type 'integer'", id="message-fallback"),
        pytest.param({"count": 1, "address": "300.1.1.1"}, "address", "'300.1.1.1' is not a 'ipv4'", "an IPv4 address", id="format"),
        pytest.param({"count": 1, "paths": ["/a", "tmp"]}, "paths[1]", "'tmp' does not match '^/'", "an absolute path", id="list-item"),
        pytest.param(
            {"count": 1, "slices": [{"cpu_quota": 5}, {"cpu_quota": 0}]},
            "slices[1].cpu_quota",
            "0 is less than the minimum of 1",
            "a CPU quota in percent",
            id="list-of-dicts",
        ),
        pytest.param(
            {"count": 1, "slices": [{"cpu_quota": 5}, {}]},
            "slices[1].cpu_quota",
            "is required but not defined",
            "a CPU quota in percent",
            id="nested-required",
        ),
        pytest.param(
            {"count": 1, "limits": {"memory max": "lots"}},
            'limits["memory max"]',
            "'lots' is not of type 'integer'",
            "a limit in bytes",
            id="key-not-identifier",
        ),
        pytest.param({}, "count", "is required but not defined", "an integer from 0 to 10", id="missing-required"),
        pytest.param({"count": 1, "cuont": 2}, "cuont", "is not an allowed name", "only these names: count, name, flag, bare, "
                     "address, paths, slices, limits, size, mode, refused", id="unknown-name"),
        pytest.param(
            {"count": 1, "size": 3}, "size", "3 is less than the minimum of 5", "an integer of at least 5", id="anyof-best-int"
        ),
        pytest.param(
            {"count": 1, "size": "10Q"}, "size", "'10Q' does not match '^[0-9]+[KMG]$'", "a size such as 10M", id="anyof-best-str"
        ),
        pytest.param(
            {"count": 1, "mode": [1]},
            "mode",
            "matches none of the allowed forms ([1] is not of type 'integer' | [1] is not of type 'string')",
            "an integer or a string mode",
            id="oneof-no-best",
        ),
        pytest.param(
            {"count": 1, "refused": "root"}, "refused", "'root' is refused: it is the root user", "a user name", id="not"
        ),
    ],
)
def test_single_error(instance: dict[str, t.Any], path: str, message: str, expected: str) -> None:
    """Each kind of error is reported once, at the variable path, with the subschema's expected form."""
    assert issues_for(instance) == [{"path": path, "message": message, "expected": expected}]


def test_anyof_best_match_falls_back_to_outer_description() -> None:
    """An anyOf alternative without a description is described by the property that holds the anyOf."""
    schema = {"properties": {"v": {"description": "outer", "anyOf": [{"type": "integer", "minimum": 5}, {"type": "null"}]}}}
    assert issues_for({"v": 1}, schema) == [{"path": "v", "message": "1 is less than the minimum of 5", "expected": "outer"}]


def test_every_error_listed_and_sorted_by_path() -> None:
    """All errors come back, list indexes sorted numerically, and the message has one line per error."""
    instance = {
        "paths": ["x"] * 3 + ["/ok"] * 8 + ["y"],
        "count": 99,
        "name": "UP",
        "extra": 1,
    }
    issues = sv.validate_instance(SCHEMA, instance)
    assert [i.path for i in issues] == ["count", "extra", "name", "paths[0]", "paths[1]", "paths[2]", "paths[11]"]
    lines = sv.failure_message("demo", issues).splitlines()
    assert lines[0] == "7 variable errors against schema demo:"
    assert lines[1] == "count: 99 is greater than the maximum of 10; expected an integer from 0 to 10"
    assert lines[-1] == "paths[11]: 'y' does not match '^/'; expected an absolute path"
    assert len(lines) == 8


def test_valid_instance_has_no_issues() -> None:
    """A fully valid instance gives no issue."""
    instance = {"count": 0, "name": "ok", "paths": ["/"], "slices": [{"cpu_quota": 50}], "size": "10M", "mode": 1}
    assert not sv.validate_instance(SCHEMA, instance)


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ([], sv.TOP_LEVEL),
        (["var"], "var"),
        (["var", 1], "var[1]"),
        (["var", 0, "cpu_quota"], "var[0].cpu_quota"),
        (["var", "a b", 2], 'var["a b"][2]'),
        (["var", "0day"], 'var["0day"]'),
    ],
)
def test_format_path(path: list[t.Any], rendered: str) -> None:
    """Paths render like Jinja2 expressions on the variable."""
    assert sv.format_path(path) == rendered


@pytest.mark.parametrize(
    ("task_vars", "expected"),
    [
        ({"count": 1, "name": "a", "other": 2}, {"count": 1, "name": "a"}),
        ({"other": 2}, {}),
    ],
)
def test_collect_instance_takes_declared_defined_vars(task_vars: dict[str, t.Any], expected: dict[str, t.Any]) -> None:
    """Only the schema's top-level properties are taken; undefined ones are absent."""
    assert sv.collect_instance(SCHEMA, task_vars, lambda value: value) == expected


def test_collect_instance_templates_values() -> None:
    """Values go through the template function once, as a dict."""
    seen: list[t.Any] = []

    def template(value: t.Any) -> t.Any:
        seen.append(value)
        return {k: f"<{v}>" for k, v in value.items()}

    assert sv.collect_instance(SCHEMA, {"name": "x"}, template) == {"name": "<x>"}
    assert seen == [{"name": "x"}]


def test_resolve_schema_by_name(tmp_path: Path) -> None:
    """A name resolves to schemas/<name>.json."""
    (tmp_path / "alpha.json").write_text("{}")
    assert sv.resolve_schema("alpha", tmp_path, Path("/nonexistent")) == tmp_path / "alpha.json"


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ("gamma", "Unknown schema name 'gamma' (looked in {dir}); available schemas: alpha, beta"),
        ("Alpha", "Invalid schema 'Alpha': use a schema name matching ^[a-z][a-z0-9_]*$ or a path to a .json file"),
        ("missing.json", "Schema file {base}/missing.json does not exist"),
    ],
)
def test_resolve_schema_errors(tmp_path: Path, schema: str, error: str) -> None:
    """Unknown names list the available schemas; bad names and missing files are refused."""
    schemas_dir = tmp_path / "schemas"
    schemas_dir.mkdir()
    for name in ("beta", "alpha", "Not_A_Name"):
        (schemas_dir / f"{name}.json").write_text("{}")
    with pytest.raises(sv.SchemaLookupError) as exc_info:
        sv.resolve_schema(schema, schemas_dir, tmp_path)
    assert str(exc_info.value) == error.format(dir=schemas_dir, base=tmp_path)


def test_resolve_schema_paths(tmp_path: Path) -> None:
    """Paths are absolute or relative to the playbook directory."""
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "mine.json"
    target.write_text("{}")
    assert sv.resolve_schema("sub/mine.json", Path("/nonexistent"), tmp_path) == target
    assert sv.resolve_schema(str(target), Path("/nonexistent"), Path("/")) == target


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{not json", "Schema file {file} is not valid JSON: "),
        ("[]", "Schema file {file} is not valid: the top level must be a JSON object"),
        ('{"type": "nonsense"}', "Schema file {file} is not a valid JSON Schema (at type): "),
        ('{"properties": {"a": {"minimum": "1"}}}', "Schema file {file} is not a valid JSON Schema (at properties.a.minimum): "),
    ],
)
def test_load_schema_errors_name_the_file(tmp_path: Path, content: str, error: str) -> None:
    """Broken schema files fail naming the file."""
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(sv.SchemaFileError) as exc_info:
        sv.load_schema(path)
    assert str(exc_info.value).startswith(error.format(file=path))


def test_unresolvable_ref_names_the_source() -> None:
    """A $ref that points nowhere fails naming the schema instead of crashing."""
    schema = {"properties": {"a": {"$ref": "#/$defs/nowhere"}}}
    with pytest.raises(sv.SchemaFileError, match=r"^Schema file x\.json has a \$ref that cannot be resolved"):
        sv.validate_instance(schema, {"a": 1}, source="Schema file x.json")


def test_missing_jsonschema_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without jsonschema the error says to pip install it."""
    monkeypatch.setattr(sv, "JSONSCHEMA_IMPORT_ERROR", ImportError("No module named 'jsonschema'"))
    with pytest.raises(sv.JsonschemaMissingError, match=r"pip install jsonschema \(it is listed in the collection's requirements\.txt\)"):
        sv.validate_instance(SCHEMA, {})


def test_host_report_schema_is_valid_and_accepts_role_defaults() -> None:
    """The shipped host_report schema is valid JSON Schema and the role defaults pass it."""
    schema = sv.load_schema(SCHEMAS_DIR / "host_report.json")
    defaults = yaml.safe_load((COLLECTION_ROOT / "roles" / "host_report" / "defaults" / "main.yml").read_text())
    assert set(sv.declared_variables(schema)) == set(schema["required"])
    assert sv.validate_instance(schema, defaults) == []


def test_every_host_report_field_has_title_and_description() -> None:
    """Each property and $defs entry of the host_report schema documents itself."""
    schema = json.loads((SCHEMAS_DIR / "host_report.json").read_text())
    fields = {**schema["properties"], **schema["$defs"]}
    assert fields
    for name, field in fields.items():
        assert field.get("title") and field.get("description"), name


@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        ({"host_report_gather_subset": []}, "host_report_gather_subset", "[] should be non-empty"),
        ({"host_report_gather_subset": ["all", "all"]}, "host_report_gather_subset", "['all', 'all'] has non-unique elements"),
        ({"host_report_gather_subset": ["cpu", "gpu"]}, "host_report_gather_subset[1]", "'gpu' is not one of ['all', 'systemd', "
         "'cgroup', 'selinux', 'engines', 'cpu', 'hugepages', 'kernel', 'storage', 'memory']"),
        ({"host_report_storage_paths": ["/", "var/lib"]}, "host_report_storage_paths[1]", "'var/lib' does not match '^/'"),
        ({"host_report_storage_paths": ["/var/../etc"]}, "host_report_storage_paths[0]",
         "'/var/../etc' is refused: it is a path with a .. component"),
        ({"host_report_storage_paths": ["/srv/.."]}, "host_report_storage_paths[0]", "'/srv/..' is refused: it is a path with a .. component"),
        ({"host_report_storage_paths": ["/", "/"]}, "host_report_storage_paths", "['/', '/'] has non-unique elements"),
        ({"host_report_min_free_mib": "1024"}, "host_report_min_free_mib", "'1024' is not of type 'integer'"),
        ({"host_report_min_free_mib": 1048577}, "host_report_min_free_mib", "1048577 is greater than the maximum of 1048576"),
        ({"host_report_fail_on_low_space": "no"}, "host_report_fail_on_low_space", "'no' is not of type 'boolean'"),
    ],
)
def test_host_report_schema_refuses(overrides: dict[str, t.Any], path: str, message: str) -> None:
    """Each rule of the host_report schema refuses a bad value at the right path."""
    schema = sv.load_schema(SCHEMAS_DIR / "host_report.json")
    instance = {
        "host_report_gather_subset": ["all"],
        "host_report_storage_paths": ["/var/lib/containers", "/srv/..data"],
        "host_report_min_free_mib": 0,
        "host_report_fail_on_low_space": False,
        **overrides,
    }
    assert [(i.path, i.message) for i in sv.validate_instance(schema, instance)] == [(path, message)]
