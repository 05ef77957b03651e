"""Unit tests for the testbed's root filesystem helpers."""

from __future__ import annotations

import pytest

from _rootfs import parse_debian_mirror, recipe_digest

DEB822 = """Types: deb
URIs: http://mirror.example.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.test/debian-security
Suites: bookworm-security
Components: main
"""

ONE_LINE = """# comment
deb [arch=amd64] http://one.example.test/debian bookworm main contrib
deb http://other.example.test/debian bookworm-updates main
"""


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (DEB822, "http://mirror.example.test/debian"),
        (ONE_LINE, "http://one.example.test/debian"),
        ("deb http://x.example.test/debian bullseye main\n", None),
        ("Types: deb-src\nURIs: http://src.example.test/debian\nSuites: bookworm\nComponents: main\n", None),
        ("Types: deb\nURIs: http://nomain.example.test/debian\nSuites: bookworm\nComponents: contrib\n", None),
        ("", None),
    ],
)
def test_parse_debian_mirror(sources, expected):
    assert parse_debian_mirror(sources) == expected


def test_recipe_digest_is_stable_and_order_independent():
    assert recipe_digest({"a": 1, "b": [1, 2]}) == recipe_digest({"b": [1, 2], "a": 1})
    assert recipe_digest({"a": 1}) != recipe_digest({"a": 2})
    assert len(recipe_digest({})) == 16
