# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The resource limit documentation: every copy documents exactly LIMIT_OPTIONS, identically, with working references."""

from __future__ import annotations

import re

import pytest
import yaml

from ansible_collections.containerhost.platform.plugins.doc_fragments._resource_limits import ModuleDocFragment
from ansible_collections.containerhost.platform.plugins.module_utils._resource_control import LIMIT_OPTIONS


def limit_docs(variant: str) -> tuple[dict, str]:
    """The documented limit options of a fragment variable and the option path their O() references use."""
    options = yaml.safe_load(getattr(ModuleDocFragment, variant))["options"]
    if variant == "DOCUMENTATION":
        return options, ""
    (name, entry), = options.items()
    return {key: value for key, value in entry["suboptions"].items() if key in LIMIT_OPTIONS}, f"{name}[]."


def spec_of(docs: dict) -> dict:
    """The argument_spec shape a documentation block describes."""
    spec = {}
    for name, doc in docs.items():
        item = {"type": doc["type"]}
        if "elements" in doc:
            item["elements"] = doc["elements"]
        if "suboptions" in doc:
            item["options"] = {key: {"type": sub["type"], "required": sub.get("required", False)}
                               for key, sub in doc["suboptions"].items()}
        spec[name] = item
    return spec


def spec_shape(spec: dict) -> dict:
    """LIMIT_OPTIONS reduced to what the documentation states."""
    return {name: {**{k: v for k, v in item.items() if k in ("type", "elements")},
                   **({"options": {key: {"type": sub["type"], "required": sub.get("required", False)}
                                   for key, sub in item["options"].items()}} if "options" in item else {})}
            for name, item in spec.items()}


@pytest.mark.parametrize("variant", ["DOCUMENTATION", "SLICES", "UNITS"])
def test_every_variant_documents_limit_options_as_specified(variant):
    docs, dummy_prefix = limit_docs(variant)
    assert list(docs) == list(LIMIT_OPTIONS)
    assert spec_of(docs) == spec_shape(LIMIT_OPTIONS)


@pytest.mark.parametrize("variant", ["DOCUMENTATION", "SLICES", "UNITS"])
def test_every_reference_points_at_an_option_where_the_text_is_placed(variant):
    docs, prefix = limit_docs(variant)
    top, dummy = limit_docs("DOCUMENTATION")
    assert strip_prefix(docs, prefix) == top
    references = re.findall(r"O\(([^)]+)\)", repr(docs))
    assert references
    for reference in references:
        assert reference.startswith(prefix) and reference[len(prefix):] in LIMIT_OPTIONS


def strip_prefix(value: object, prefix: str) -> object:
    """The documentation with O(<prefix>name) references turned into O(name)."""
    if isinstance(value, dict):
        return {key: strip_prefix(item, prefix) for key, item in value.items()}
    if isinstance(value, list):
        return [strip_prefix(item, prefix) for item in value]
    return value.replace(f"O({prefix}", "O(") if isinstance(value, str) else value
