# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin for containerhost.platform.validate: check variables against a JSON Schema on the controller."""

from __future__ import annotations

import typing as t

from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.containerhost.platform.plugins.plugin_utils import _schema_validation as sv

# plugins/action/validate.py -> the collection root holds schemas/.
SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

ARGUMENT_SPEC = {
    "schema": {"type": "str", "required": True},
    "vars": {"type": "dict"},
}


class ActionModule(ActionBase):
    """Validate variables against a JSON Schema without contacting the host."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    # Runs entirely on the controller, like ansible.builtin.validate_argument_spec.
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        """Validate the task's vars (or the schema's variables from task_vars) and fail listing every error."""
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp  # tmp no longer has any effect

        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        schema_arg: str = args["schema"]

        try:
            sv.require_jsonschema()
            basedir = Path(task_vars.get("playbook_dir") or self._loader.get_basedir())
            schema_path = sv.resolve_schema(schema_arg, SCHEMAS_DIR, basedir)
            schema = sv.load_schema(schema_path)
        except (sv.JsonschemaMissingError, sv.SchemaLookupError, sv.SchemaFileError) as exc:
            raise AnsibleActionFail(str(exc)) from exc

        if args.get("vars") is not None:
            instance = dict(args["vars"])  # task args arrive already templated
        else:
            instance = sv.collect_instance(schema, task_vars, self._templar.template)

        try:
            issues = sv.validate_instance(schema, instance, source=f"Schema file {schema_path}")
        except sv.SchemaFileError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        validated = sorted(instance)
        if issues:
            result.update(
                failed=True,
                changed=False,
                msg=sv.failure_message(schema_arg, issues),
                errors=[issue.as_dict() for issue in issues],
                validated=validated,
            )
            return result

        result.update(
            changed=False,
            msg=f"{len(validated)} variables valid against {schema_arg}",
            validated=validated,
        )
        return result
