"""Shared by the role schema tests: the schema of the test module (its SCHEMA_PATH)."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.containerhost.platform.plugins.plugin_utils import _schema_validation as sv


@pytest.fixture(scope="module", name="schema")
def fixture_schema(request: pytest.FixtureRequest) -> dict[str, t.Any]:
    """The shipped schema of the test module, checked against the Draft 2020-12 meta-schema."""
    return sv.load_schema(request.module.SCHEMA_PATH)
