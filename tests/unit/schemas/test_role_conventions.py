# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every role of the collection keeps to, checked for each role with an argument spec: its schema, argument
specs and defaults in step; its variables documented, its objects closed, its examples valid; and the role
conventions (private vars, commented defaults, validation first, named FQCN tasks, loop and register names, tags,
template headers).

The role conventions are checked by convention_problems(), which reads a role directory and names every rule it
breaks; the tests at the end run it on small fake roles to show each rule is enforced. What is particular to a role
(its tags, its task order, which templates it writes to hosts, stricter schema checks) stays in that role's test
module."""

from __future__ import annotations

import textwrap
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.plugin_utils import _schema_validation as sv

from _roles import (ROLES_DIR, SCHEMAS_DIR, file_tasks, issue_paths, load_yaml, resolved, role_defaults, role_document,
                    role_names, role_schema, role_spec_options, role_tasks, schema_fields, written_templates)

ROLES = role_names()

# Argument spec types and the JSON Schema types they stand for.
JSON_TYPES = {"list": "array", "bool": "boolean", "path": "string", "str": "string", "int": "integer", "dict": "object"}

ANSIBLE_MANAGED = "{{ ansible_managed | comment }}"


@pytest.fixture(name="role", params=ROLES)
def fixture_role(request: pytest.FixtureRequest) -> str:
    """Each role in turn: a test that takes it runs for every role."""
    return request.param


@pytest.fixture(name="schema")
def fixture_schema(role: str) -> dict[str, t.Any]:
    """The shipped schema of the role (in place of conftest.py's, which reads the test module's SCHEMA_PATH)."""
    return role_schema(role)


def test_roles_are_found() -> None:
    """Every role of the collection is checked here, and each has a schema."""
    assert {"container_host", "container_runtime", "etcd", "flannel", "resource_slices"} <= set(ROLES)
    assert all((SCHEMAS_DIR / f"{role}.json").is_file() for role in ROLES)


# ---------------------------------------------------------------------------------------------------------------------
# The schema, the argument specs and the defaults in step

def test_defaults_are_in_argument_specs_and_schema(role: str, schema: dict[str, t.Any]) -> None:
    """Every default variable is an argument spec option and a required schema property, and nothing more is
    declared."""
    names = set(role_defaults(ROLES_DIR / role))
    assert names, "defaults/main.yml declares no variable"
    assert names == set(role_spec_options(ROLES_DIR / role))
    assert names == set(sv.declared_variables(schema))
    assert names == set(schema["required"])
    assert all(name.startswith(f"{role}_") for name in names), sorted(names)


def test_argument_spec_defaults_and_types_match(role: str, schema: dict[str, t.Any]) -> None:
    """The argument specs document the defaults of defaults/main.yml, with the schema's types and choices."""
    defaults = role_defaults(ROLES_DIR / role)
    for name, option in role_spec_options(ROLES_DIR / role).items():
        assert option["default"] == defaults[name], name
        assert option.get("description"), name
        prop = resolved(schema, schema["properties"][name])
        assert JSON_TYPES[option["type"]] == prop["type"], name
        if option["type"] == "list":
            items = resolved(schema, prop["items"])
            if "choices" in option:
                assert option["choices"] == items["enum"], name
            if "enum" in items:
                assert set(items["enum"]) >= set(option["default"]), name
        elif "choices" in option:
            assert option["choices"] == prop["enum"], name


def test_defaults_are_valid(role: str, schema: dict[str, t.Any]) -> None:
    """The role with no variables set passes its own schema (templated defaults rendered as on a testbed host)."""
    assert issue_paths(schema, role_document(ROLES_DIR / role)) == []


# ---------------------------------------------------------------------------------------------------------------------
# The schema's own shape

def test_every_variable_and_rule_has_title_and_description(role: str, schema: dict[str, t.Any]) -> None:
    """Each variable and each allOf rule says what it is, for the validate action's messages (roles whose every
    nested field does as well say so in their own module)."""
    assert schema["properties"], role
    for name, prop in schema["properties"].items():
        assert prop.get("title") and prop.get("description"), name
    for index, rule in enumerate(schema.get("allOf", [])):
        assert rule.get("title") and rule.get("description"), f"allOf[{index}]"


def test_every_object_refuses_unknown_keys(role: str, schema: dict[str, t.Any]) -> None:
    """Objects with properties, the document itself included, do not let unknown keys through."""
    for path, field in [(f"{role} (top)", schema), *schema_fields(schema)]:
        if "properties" in field:
            assert field.get("additionalProperties") is False, path


def test_documented_examples_are_valid(role: str, schema: dict[str, t.Any]) -> None:
    """The examples the schema shows pass it."""
    for name, prop in schema["properties"].items():
        for example in prop.get("examples", []):
            assert issue_paths(schema, role_document(ROLES_DIR / role, **{name: example})) == [], (name, example)


# ---------------------------------------------------------------------------------------------------------------------
# The role conventions

Problem = tuple[str, str]


def convention_problems(role: Path) -> list[Problem]:
    """(rule, what breaks it) for every role convention the role directory breaks:

    - private-vars: vars/main.yml declares variables, all named __<role>_*, none of them a default;
    - defaults-commented: each public variable in defaults/main.yml is preceded by a comment line;
    - validate-first: the first task (imports inlined) is containerhost.platform.validate with the role's schema;
    - tags: every task of tasks/main.yml (imports inlined) has tags, each starting with the role's name;
    - task-name: every task, block and handler is named "<Role> | ...";
    - fqcn-module: every task and handler calls exactly one module by its FQCN;
    - loop-var: loops use loop with loop_control.loop_var named __<role>_* (no with_*, no item);
    - register-name: registered results are named <role>_* or __<role>_*;
    - template-src: each template the template module writes exists in templates/;
    - host-template-header: such a template starts (after a #! line) with ansible_managed, then the fingerprint
      line: "# containerhost.platform:<role>", or "# {{ __<role>_fingerprint }}" when vars/main.yml sets that
      variable; the variable, where set, is containerhost.platform:<role>;
    - controller-template-header: every other template is rendered on the controller and opens with
      "{#- containerhost.platform:<role> - ".
    """
    name = role.name
    public, private = f"{name}_", f"__{name}_"
    problems: list[Problem] = []

    variables = load_yaml(role / "vars" / "main.yml") or {}
    defaults = role_defaults(role) or {}
    if not variables:
        problems.append(("private-vars", "vars/main.yml declares no variable"))
    problems.extend(("private-vars", var) for var in variables if not var.startswith(private) or var in defaults)

    lines = (role / "defaults" / "main.yml").read_text(encoding="utf-8").splitlines()
    problems.extend(("defaults-commented", line) for index, line in enumerate(lines)
                    if line.startswith(public) and (index == 0 or not lines[index - 1].startswith("#")))

    main = role_tasks(role)
    if not main or main[0].get("containerhost.platform.validate") != {"schema": name}:
        problems.append(("validate-first", str(main[0].get("name")) if main else "tasks/main.yml has no task"))
    for task in main:
        tags = task.get("tags") or []
        tags = [tags] if isinstance(tags, str) else tags
        if not tags or not all(str(tag).startswith(name) for tag in tags):
            problems.append(("tags", f"{task.get('name')}: {tags}"))

    for path in sorted([*(role / "tasks").glob("*.yml"), *(role / "handlers").glob("*.yml")]):
        for task in file_tasks(path):
            where = f"{path.parent.name}/{path.name}: {task.get('name')}"
            if not str(task.get("name", "")).startswith(f"{name.capitalize()} | "):
                problems.append(("task-name", where))
            if any(part in task for part in ("block", "rescue", "always")):
                continue
            if len([key for key in task if key.startswith(("ansible.", "containerhost.platform."))]) != 1:
                problems.append(("fqcn-module", where))
            if any(key.startswith("with_") for key in task):
                problems.append(("loop-var", f"{where}: with_* loop"))
            if "loop" in task and not str((task.get("loop_control") or {}).get("loop_var", "")).startswith(private):
                problems.append(("loop-var", where))
            if "register" in task and not str(task["register"]).startswith((public, private)):
                problems.append(("register-name", f"{where}: {task['register']}"))

    written = written_templates(role)
    templates_dir = role / "templates"
    templates = {path.relative_to(templates_dir).as_posix(): path
                 for path in sorted(templates_dir.rglob("*")) if path.is_file()}
    problems.extend(("template-src", src) for src in sorted(written - set(templates)))
    fingerprint = f"containerhost.platform:{name}"
    fingerprint_var = f"{private}fingerprint"
    fingerprint_lines = {f"# {fingerprint}"}
    if fingerprint_var in variables:
        fingerprint_lines.add(f"# {{{{ {fingerprint_var} }}}}")
    if variables.get(fingerprint_var, fingerprint) != fingerprint:
        problems.append(("host-template-header", f"{fingerprint_var} is {variables[fingerprint_var]!r}"))
    for relative, path in templates.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        if relative in written:
            # A script's first line is its interpreter; the header follows.
            header = lines[1:] if lines and lines[0].startswith("#!") else lines
            if len(header) < 2 or header[0] != ANSIBLE_MANAGED or header[1] not in fingerprint_lines:
                problems.append(("host-template-header", relative))
        elif not lines or not lines[0].startswith(f"{{#- {fingerprint} - "):
            problems.append(("controller-template-header", relative))
    return problems


def test_role_conventions(role: str) -> None:
    """The role keeps every convention."""
    assert convention_problems(ROLES_DIR / role) == []


# ---- the checker on fake roles: each rule broken once

GOOD_ROLE = {relative: textwrap.dedent(text).lstrip("\n") for relative, text in {
    "defaults/main.yml": """
        ---
        # How many widgets.
        fake_count: 1
        """,
    "vars/main.yml": """
        ---
        __fake_fingerprint: containerhost.platform:fake
        __fake_paths: [/a, /b]
        """,
    "tasks/main.yml": """
        ---
        - name: Fake | Validate
          ansible.builtin.import_tasks:
            file: validate.yml
          tags: [fake, fake_validate]
        - name: Fake | Write the config
          ansible.builtin.template:
            src: fake.conf.j2
            dest: /etc/fake.conf
            mode: "0644"
          loop: "{{ __fake_paths }}"
          loop_control:
            loop_var: __fake_path
          register: __fake_config
          notify: Fake | Restart
          tags: [fake]
        - name: Fake | Checked
          block:
            - name: Fake | Checked | Stat
              ansible.builtin.stat:
                path: /etc/fake.conf
              register: fake_stat
          rescue:
            - name: Fake | Checked | Say so
              ansible.builtin.debug:
                msg: "{{ lookup('ansible.builtin.template', 'summary.j2') }}"
          tags: [fake_checked]
        """,
    "tasks/validate.yml": """
        ---
        - name: Fake | Validate | Variables
          containerhost.platform.validate:
            schema: fake
        """,
    "handlers/main.yml": """
        ---
        - name: Fake | Restart
          ansible.builtin.systemd_service:
            name: fake
            state: restarted
        """,
    "templates/fake.conf.j2": """
        #!/bin/sh
        {{ ansible_managed | comment }}
        # {{ __fake_fingerprint }}
        """,
    "templates/summary.j2": """
        {#- containerhost.platform:fake - rendered on the controller. -#}
        """,
}.items()}


def fake_role(tmp_path: Path, changes: dict[str, str]) -> Path:
    """A role "fake" that keeps every convention, with the files named in changes (by relative path) replaced."""
    role = tmp_path / "fake"
    for relative, text in {**GOOD_ROLE, **changes}.items():
        (role / relative).parent.mkdir(parents=True, exist_ok=True)
        (role / relative).write_text(text, encoding="utf-8")
    return role


def replaced(relative: str, old: str, new: str) -> dict[str, str]:
    """A change to the good role: one of its files with old (found there exactly once) replaced by new."""
    text = GOOD_ROLE[relative]
    assert text.count(old) == 1, old
    return {relative: text.replace(old, new)}


def test_the_good_fake_role_keeps_every_convention(tmp_path: Path) -> None:
    """The fake role is a fair baseline: without a change, nothing is reported."""
    assert convention_problems(fake_role(tmp_path, {})) == []


def test_a_host_template_may_carry_the_fingerprint_itself(tmp_path: Path) -> None:
    """The fingerprint written out is as good as its variable."""
    change = replaced("templates/fake.conf.j2", "# {{ __fake_fingerprint }}", "# containerhost.platform:fake")
    assert convention_problems(fake_role(tmp_path, change)) == []


@pytest.mark.parametrize(("change", "problems"), [
    pytest.param(replaced("vars/main.yml", "__fake_paths", "fake_paths"), [("private-vars", "fake_paths")],
                 id="public-var-in-vars"),
    pytest.param(replaced("vars/main.yml", "__fake_paths", "__other_paths"), [("private-vars", "__other_paths")],
                 id="var-of-another-role"),
    # Without the fingerprint variable, a host template carries the fingerprint itself.
    pytest.param({"vars/main.yml": "---\n",
                  **replaced("templates/fake.conf.j2", "# {{ __fake_fingerprint }}", "# containerhost.platform:fake")},
                 [("private-vars", "vars/main.yml declares no variable")], id="no-vars"),
    pytest.param(replaced("defaults/main.yml", "# How many widgets.\n", ""), [("defaults-commented", "fake_count: 1")],
                 id="uncommented-default"),
    pytest.param(replaced("tasks/validate.yml", "schema: fake", "schema: other"),
                 [("validate-first", "Fake | Validate | Variables")], id="validates-another-schema"),
    pytest.param(replaced("tasks/main.yml", "tags: [fake]", "tags: []"), [("tags", "Fake | Write the config: []")],
                 id="untagged-task"),
    pytest.param(replaced("tasks/main.yml", "tags: [fake_checked]", "tags: [checked]"),
                 [("tags", "Fake | Checked: ['checked']")], id="foreign-tag"),
    pytest.param(replaced("tasks/main.yml", "Fake | Checked | Say so", "Say so"),
                 [("task-name", "tasks/main.yml: Say so")], id="unprefixed-task-in-rescue"),
    pytest.param(replaced("tasks/main.yml", "name: Fake | Checked\n", "name: Checked\n"),
                 [("task-name", "tasks/main.yml: Checked")], id="unprefixed-block"),
    pytest.param(replaced("handlers/main.yml", "Fake | Restart", "Restart fake"),
                 [("task-name", "handlers/main.yml: Restart fake")], id="unprefixed-handler"),
    pytest.param(replaced("handlers/main.yml", "ansible.builtin.systemd_service", "systemd_service"),
                 [("fqcn-module", "handlers/main.yml: Fake | Restart")], id="short-module-name-in-handler"),
    pytest.param(replaced("tasks/main.yml", "ansible.builtin.stat", "stat"),
                 [("fqcn-module", "tasks/main.yml: Fake | Checked | Stat")], id="short-module-name-in-block"),
    pytest.param(replaced("tasks/main.yml", "      ansible.builtin.debug:",
                          "      ansible.builtin.command: echo\n      ansible.builtin.debug:"),
                 [("fqcn-module", "tasks/main.yml: Fake | Checked | Say so")], id="two-modules"),
    pytest.param(replaced("tasks/main.yml", "loop_var: __fake_path", "loop_var: path"),
                 [("loop-var", "tasks/main.yml: Fake | Write the config")], id="public-loop-var"),
    pytest.param(replaced("tasks/main.yml", "  loop_control:\n    loop_var: __fake_path\n", ""),
                 [("loop-var", "tasks/main.yml: Fake | Write the config")], id="loop-on-item"),
    pytest.param(replaced("tasks/main.yml", "loop:", "with_items:"),
                 [("loop-var", "tasks/main.yml: Fake | Write the config: with_* loop")], id="with-items"),
    pytest.param(replaced("tasks/main.yml", "register: fake_stat", "register: stat_result"),
                 [("register-name", "tasks/main.yml: Fake | Checked | Stat: stat_result")], id="register-name"),
    # The template no task writes any more is taken for a controller-side one, without that header.
    pytest.param(replaced("tasks/main.yml", "src: fake.conf.j2", "src: missing.conf.j2"),
                 [("template-src", "missing.conf.j2"), ("controller-template-header", "fake.conf.j2")],
                 id="missing-template"),
    pytest.param(replaced("templates/fake.conf.j2", "{{ ansible_managed | comment }}\n", ""),
                 [("host-template-header", "fake.conf.j2")], id="no-ansible-managed"),
    pytest.param(replaced("templates/fake.conf.j2", "# {{ __fake_fingerprint }}", "# fake"),
                 [("host-template-header", "fake.conf.j2")], id="no-fingerprint"),
    pytest.param(replaced("vars/main.yml", "containerhost.platform:fake", "containerhost.platform:other"),
                 [("host-template-header", "__fake_fingerprint is 'containerhost.platform:other'")],
                 id="wrong-fingerprint-value"),
    pytest.param(replaced("vars/main.yml", "__fake_fingerprint: containerhost.platform:fake\n", ""),
                 [("host-template-header", "fake.conf.j2")], id="fingerprint-variable-gone"),
    pytest.param(replaced("templates/summary.j2", "{#- containerhost", "{# containerhost"),
                 [("controller-template-header", "summary.j2")], id="controller-template-header"),
    pytest.param({"templates/unused.j2": "plain text\n"}, [("controller-template-header", "unused.j2")],
                 id="template-without-header"),
])
def test_convention_problems_name_the_broken_rule(tmp_path: Path, change: dict[str, str],
                                                  problems: list[Problem]) -> None:
    """One broken convention gives exactly its problems."""
    assert convention_problems(fake_role(tmp_path, change)) == problems
