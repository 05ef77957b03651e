# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: the work is done on the controller by plugins/action/validate.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate
short_description: Validate variables against a JSON Schema on the controller
version_added: 0.1.0
description:
  - Checks variables against a JSON Schema (Draft 2020-12, with format checking) on the controller,
    before any task touches a host. Roles of this collection run it as their first task.
  - Without O(vars), takes every top-level property declared in the schema's C(properties) from the
    task's variables (templated first). Variables that are not defined are left out, so the
    schema's C(required) reports them.
  - "On failure, RV(msg) lists every error on its own line, sorted by path, as
    C(<variable path>: <what is wrong>; expected <expected form>), for example
    C(host_report_storage_paths[1]: 'tmp' does not match '^/'; expected an absolute path...).
    The expected form is the C(description) of the failing subschema, else its C(title), else the
    validator's message. For C(anyOf)/C(oneOf) the most relevant alternative's error is shown."
  - The host is never contacted.
author:
  - containerhost.platform maintainers (@containerhost)
requirements:
  - jsonschema (Python library, on the controller; listed in the collection's C(requirements.txt))
options:
  schema:
    description:
      - A schema name, looked up as C(schemas/<name>.json) at the root of this collection.
        Names match C(^[a-z][a-z0-9_]*$); an unknown name fails listing the available ones.
      - Or a path to a C(.json) file, absolute or relative to the playbook directory.
    type: str
    required: true
  vars:
    description:
      - The values to validate, as a dict of variable name to value.
      - When not given, the schema's top-level C(properties) are looked up in the task's variables.
    type: dict
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._attributes.ACTION_PLUGIN
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: N/A
    details: Changes nothing, so there is no diff.
  idempotent:
    support: full
    details: Changes nothing; the same variables give the same result.
  platform:
    support: full
    platforms: all
    details: Runs on the controller only; the target host is never contacted.
notes:
  - The schema is always validated as Draft 2020-12, whatever its C($schema) says.
  - Values passed with C(-e name=value) are strings, so a schema asking for an integer or boolean refuses them;
    pass typed values as JSON with C(-e) or from a vars file.
seealso:
  - module: ansible.builtin.validate_argument_spec
"""

EXAMPLES = r"""
- name: Validate host_report variables
  containerhost.platform.validate:
    schema: host_report

- name: Validate explicit values against a schema file next to the playbook
  containerhost.platform.validate:
    schema: schemas/site.json
    vars:
      site_name: lab
      site_hosts: "{{ groups['all'] }}"
"""

RETURN = r"""
msg:
  description:
    - On success, how many variables were valid against which schema.
    - On failure, a heading then one line per error, sorted by path.
  returned: always
  type: str
  sample: 4 variables valid against host_report
validated:
  description: Names of the variables that were checked (those defined, or the keys of O(vars)).
  returned: success or validation failure
  type: list
  elements: str
  sample: [host_report_fail_on_low_space, host_report_gather_subset, host_report_min_free_mib, host_report_storage_paths]
errors:
  description: Every validation error, sorted by path.
  returned: validation failure
  type: list
  elements: dict
  contains:
    path:
      description: Where the error is, as a variable path.
      type: str
      sample: host_report_storage_paths[1]
    message:
      description: What is wrong.
      type: str
      sample: "'tmp' does not match '^/'"
    expected:
      description: The expected form, from the failing subschema's description or title.
      type: str
      sample: "an absolute path: starts with / and has no .. component"
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    """Refuse to run on a host: the action plugin does the work on the controller."""
    module = AnsibleModule(
        argument_spec={"schema": {"type": "str", "required": True}, "vars": {"type": "dict"}},
        supports_check_mode=True,
    )
    module.fail_json(msg="containerhost.platform.validate runs on the controller only; its action plugin was not used.")


if __name__ == "__main__":
    main()
