# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""JSON Schema validation of role variables on the controller (logic behind the validate action)."""

from __future__ import annotations

import json
import re
import typing as t

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

try:
    import jsonschema
    import jsonschema.exceptions
    import referencing.exceptions  # a dependency of jsonschema
except ImportError as exc:
    # The action reports this as a clear task failure; importing this file must still work without it.
    jsonschema = None
    JSONSCHEMA_IMPORT_ERROR: ImportError | None = exc
else:
    JSONSCHEMA_IMPORT_ERROR = None

if t.TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SCHEMA_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Shown instead of an empty path, for errors about the set of variables as a whole.
TOP_LEVEL = "(top level)"

# Combinators whose own message ("is not valid under any of the given schemas") says nothing useful.
_COMBINATORS = frozenset(("anyOf", "oneOf"))


class SchemaLookupError(ValueError):
    """The schema argument names no schema file that exists or is allowed."""


class SchemaFileError(ValueError):
    """The schema file cannot be read, is not JSON, or is not a valid JSON Schema."""


class JsonschemaMissingError(RuntimeError):
    """The jsonschema library is not importable on the controller."""


@dataclass(frozen=True)
class Issue:
    """One validation failure, ready to be shown to the user."""

    path: str
    message: str
    expected: str
    sort_key: tuple[tuple[int, int | str], ...] = ()

    def as_dict(self) -> dict[str, str]:
        """Return the issue as the dict returned in the task result's ``errors``."""
        return {"path": self.path, "message": self.message, "expected": self.expected}

    def line(self) -> str:
        """Return the issue as one line of the failure message."""
        return f"{self.path}: {self.message}; expected {self.expected}"


def require_jsonschema() -> None:
    """Raise JsonschemaMissingError when jsonschema could not be imported."""
    if JSONSCHEMA_IMPORT_ERROR is not None:
        raise JsonschemaMissingError(
            "The Python library jsonschema is needed on the controller to validate variables but cannot be "
            f"imported ({JSONSCHEMA_IMPORT_ERROR}). Install it where ansible runs: pip install jsonschema "
            "(it is listed in the collection's requirements.txt)."
        )


def available_schemas(schemas_dir: Path) -> list[str]:
    """Return the sorted names of the schemas in schemas_dir."""
    if not schemas_dir.is_dir():
        return []
    return sorted(p.stem for p in schemas_dir.glob("*.json") if SCHEMA_NAME_RE.match(p.stem))


def resolve_schema(schema: str, schemas_dir: Path, basedir: Path) -> Path:
    """Turn a schema name or a .json path (absolute or relative to basedir) into an existing file path."""
    if SCHEMA_NAME_RE.match(schema):
        path = schemas_dir / f"{schema}.json"
        if path.is_file():
            return path
        names = ", ".join(available_schemas(schemas_dir)) or "none"
        raise SchemaLookupError(f"Unknown schema name '{schema}' (looked in {schemas_dir}); available schemas: {names}")
    if not schema.endswith(".json"):
        # Neither a name nor a path: say both rules, since the user meant one of them.
        raise SchemaLookupError(
            f"Invalid schema '{schema}': use a schema name matching {SCHEMA_NAME_RE.pattern} "
            "or a path to a .json file"
        )
    path = Path(schema).expanduser()
    if not path.is_absolute():
        path = basedir / path
    if not path.is_file():
        raise SchemaLookupError(f"Schema file {path} does not exist")
    return path


def load_schema(path: Path) -> dict[str, t.Any]:
    """Read a JSON Schema file and check it against the Draft 2020-12 meta-schema."""
    require_jsonschema()
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaFileError(f"Cannot read schema file {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaFileError(f"Schema file {path} is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise SchemaFileError(f"Schema file {path} is not valid: the top level must be a JSON object")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = format_path(exc.absolute_path) if exc.absolute_path else TOP_LEVEL
        raise SchemaFileError(f"Schema file {path} is not a valid JSON Schema (at {where}): {exc.message}") from exc
    return schema


def declared_variables(schema: Mapping[str, t.Any]) -> list[str]:
    """Return the top-level property names the schema declares, in schema order."""
    properties = schema.get("properties", {})
    return list(properties) if isinstance(properties, Mapping) else []


def collect_instance(
    schema: Mapping[str, t.Any],
    task_vars: Mapping[str, t.Any],
    template: Callable[[t.Any], t.Any],
) -> dict[str, t.Any]:
    """Pick the schema's top-level variables out of task_vars (absent when undefined) and template them."""
    picked = {name: task_vars[name] for name in declared_variables(schema) if name in task_vars}
    # Templated as one dict, like ansible.builtin.validate_argument_spec does.
    return dict(template(picked))


def format_path(path: Iterable[t.Any]) -> str:
    """Render a jsonschema path as a variable path such as ``var[1].key``."""
    out = ""
    for element in path:
        if isinstance(element, int) and not isinstance(element, bool):
            out += f"[{element}]"
        elif not out:
            # The first element is the variable name itself.
            out = str(element)
        elif _IDENTIFIER_RE.match(str(element)):
            out += f".{element}"
        else:
            out += f"[{json.dumps(str(element))}]"
    return out or TOP_LEVEL


def _path_sort_key(path: Iterable[t.Any]) -> tuple[tuple[int, int | str], ...]:
    """Return a key that orders paths element by element, list indexes numerically."""
    return tuple((0, e) if isinstance(e, int) and not isinstance(e, bool) else (1, str(e)) for e in path)


def _schema_text(schema: t.Any) -> str | None:
    """Return a subschema's description, else its title, else None."""
    if isinstance(schema, Mapping):
        for key in ("description", "title"):
            value = schema.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())
    return None


def expected_form(error: ValidationError, *fallback_schemas: t.Any) -> str:
    """Describe what the failing subschema wants: description, title, then jsonschema's message."""
    for schema in (error.schema, *fallback_schemas):
        text = _schema_text(schema)
        if text:
            return text
    return error.message


def _issue(path: list[t.Any], message: str, expected: str) -> Issue:
    """Build an Issue for a jsonschema path."""
    return Issue(format_path(path), message, expected, _path_sort_key(path))


def _most_relevant(error: ValidationError) -> ValidationError | None:
    """Return the best sub-error of an anyOf/oneOf error, or None when no single one stands out."""
    best = jsonschema.exceptions.best_match([error])
    return None if best is error else best


def _issues_for(error: ValidationError, fallback_schemas: tuple[t.Any, ...] = ()) -> list[Issue]:
    """Turn one jsonschema error into issues; fallback_schemas describe it when its own subschema does not."""
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        # One error per missing name; point at the variable rather than at its parent.
        properties = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        return [
            _issue([*path, name], "is required but not defined", _schema_text(properties.get(name)) or error.message)
            for name in error.validator_value
            # jsonschema raises one error per missing name: keep only the one this error is about.
            if name not in error.instance and error.message.startswith(repr(name))
        ]
    if error.validator == "additionalProperties" and error.validator_value is False and isinstance(error.instance, Mapping):
        # Name each unexpected key (often a typo) and list what is allowed there.
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extras = [k for k in error.instance if k not in allowed and not any(re.search(p, str(k)) for p in patterns)]
        expected = f"only these names: {', '.join(allowed)}" if allowed else "no names at all here"
        return [_issue([*path, k], "is not an allowed name", expected) for k in extras]
    if error.validator == "not":
        # jsonschema would print the whole refused subschema; its description says it better.
        refused = _schema_text(error.validator_value)
        message = f"{error.instance!r} is refused: it is {refused}" if refused else error.message
        return [_issue(path, message, expected_form(error, *fallback_schemas))]
    if error.validator in _COMBINATORS and error.context:
        best = _most_relevant(error)
        if best is not None:
            # The alternative's own description first, then the ones around it, innermost first.
            return _issues_for(best, (error.schema, *fallback_schemas))
        # No single alternative stands out: say what each of them wanted.
        reasons = " | ".join(dict.fromkeys(sub.message for sub in error.context))
        message = f"matches none of the allowed forms ({reasons})"
        return [_issue(path, message, expected_form(error, *fallback_schemas))]
    return [_issue(path, error.message, expected_form(error, *fallback_schemas))]


def validate_instance(schema: Mapping[str, t.Any], instance: Mapping[str, t.Any], source: str = "schema") -> list[Issue]:
    """Validate instance against schema (Draft 2020-12, formats checked); return every issue sorted by path."""
    require_jsonschema()
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    issues: dict[tuple[str, str], Issue] = {}
    try:
        for error in validator.iter_errors(instance):
            for issue in _issues_for(error):
                issues.setdefault((issue.path, issue.message), issue)
    except referencing.exceptions.Unresolvable as exc:
        # Only shows up while validating; remote references are never fetched.
        raise SchemaFileError(f"{source} has a $ref that cannot be resolved: {exc}") from exc
    return sorted(issues.values(), key=lambda i: (i.sort_key, i.message))


def failure_message(schema_label: str, issues: list[Issue]) -> str:
    """Build the task's failure message: a heading then one line per issue."""
    count = len(issues)
    heading = f"{count} variable error{'s' if count != 1 else ''} against schema {schema_label}:"
    return "\n".join([heading, *(issue.line() for issue in issues)])
