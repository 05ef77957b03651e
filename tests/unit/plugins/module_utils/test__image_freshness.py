# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for image freshness: times, ages, the documented grade rule and its validation."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _image_freshness as fr

UTC = datetime.timezone.utc
CREATED = "2026-11-23T09:45:19.138100423Z"  # as podman prints it (nanoseconds)


@pytest.mark.parametrize("text, expected", [
    (CREATED, datetime.datetime(2026, 11, 23, 9, 45, 19, 138100, tzinfo=UTC)),
    ("2025-01-02", datetime.datetime(2025, 1, 2, tzinfo=UTC)),
    ("2025-01-02T03:04", datetime.datetime(2025, 1, 2, 3, 4, tzinfo=UTC)),
    ("2025-01-02T03:04:05+02:00", datetime.datetime(2025, 1, 2, 1, 4, 5, tzinfo=UTC)),
    ("2025-01-02T03:04:05-0130", datetime.datetime(2025, 1, 2, 4, 34, 5, tzinfo=UTC)),
    ("2025-01-02 03:04:05z", datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
])
def test_parse_time(text, expected):
    assert fr.parse_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "2025-02-30T00:00:00Z", "", None, "2025-01-02T25:00"])
def test_parse_time_refuses(text):
    with pytest.raises(fr.FreshnessError, match="accepted: YYYY-MM-DD|not a valid date"):
        fr.parse_time(text, "now")


def test_parse_time_naive_datetime_is_utc():
    assert fr.parse_time(datetime.datetime(2025, 1, 1)).tzinfo == UTC


@pytest.mark.parametrize("now, days", [
    ("2026-11-23T09:45:19Z", 0),
    ("2026-11-24T09:45:19Z", 0),     # 23:59:59.86 later: not a whole day
    ("2026-11-24T09:45:20Z", 1),
    ("2027-11-23T09:45:20Z", 365),
    ("2026-01-01T00:00:00Z", 0),     # created after now
])
def test_age_days(now, days):
    assert fr.age_days(CREATED, now) == days


@pytest.mark.parametrize("age, newer, grade", [
    (0, False, "A"), (30, False, "A"), (31, False, "B"), (90, False, "B"), (91, False, "C"), (180, False, "C"),
    (181, False, "D"), (365, False, "D"), (366, False, "F"), (3650, False, "F"),
    (0, True, "B"), (100, True, "D"), (200, True, "F"), (400, True, "F"), (10, None, "A"),
])
def test_default_rule(age, newer, grade):
    assert fr.grade(age, newer)[0] == grade


def test_penalty_steps_and_reasons():
    rule = {"age_days": {"A": 7, "B": 14, "C": 21, "D": 28}, "newer_digest_penalty": 2}
    grade, reasons = fr.grade(10, True, rule)
    assert grade == "D"
    assert reasons == ["age 10 days is at most 14 (the limit for B): B",
                       "the registry holds a newer digest for the tag: 2 step(s) down to D"]
    assert fr.grade(10, True, {"newer_digest_penalty": 0})[0] == "A"
    assert fr.grade(29, False, rule) == ("F", ["age 29 days is above 28 (the limit for D): F"])
    assert fr.grade(10, None, rule)[1][-1] == "whether the registry holds a newer digest is unknown: no penalty"


def test_validate_rule_fills_defaults_and_accepts_lower_case_and_strings():
    assert fr.validate_rule(None) == fr.DEFAULT_RULE
    assert fr.validate_rule({"age_days": {"a": "10", "B": 90}})["age_days"] == {"A": 10, "B": 90, "C": 180, "D": 365}
    assert fr.validate_rule({"newer_digest_penalty": "3"})["newer_digest_penalty"] == 3


@pytest.mark.parametrize("rule, message", [
    ({"age": {}}, r"unknown key\(s\) age; accepted: age_days, newer_digest_penalty"),
    ({"age_days": [1, 2]}, r"must be a mapping of grade to days"),
    ({"age_days": {"E": 5}}, r"unknown grade\(s\) E; accepted: A, B, C, D"),
    ({"age_days": {"A": -1}}, r"age_days.A: -1 is not a number of days >= 0"),
    ({"age_days": {"A": "soon"}}, r"is not a number of days"),
    ({"age_days": {"A": True}}, r"is not a number of days"),
    ({"age_days": {"B": 10}}, r"B \(10\) is below A \(30\); the thresholds must not decrease"),
    ({"newer_digest_penalty": 5}, r"newer_digest_penalty: 5 is not a number of grade steps from 0 to 4"),
    ({"newer_digest_penalty": -1}, r"is not a number of grade steps"),
    ({"newer_digest_penalty": True}, r"is not a number of grade steps"),
])
def test_validate_rule_refuses(rule, message):
    with pytest.raises(fr.FreshnessError, match=message):
        fr.validate_rule(rule)


def test_freshness_result():
    result = fr.freshness(CREATED, "2027-03-01T00:00:00Z", True, "sha256:" + "a" * 64)
    assert result == {"age_days": 97, "newer_digest": True, "registry_digest": "sha256:" + "a" * 64, "grade": "D",
                      "reasons": ["age 97 days is at most 180 (the limit for C): C",
                                  "the registry holds a newer digest for the tag: 1 step(s) down to D"]}


def test_freshness_simulated_clock_moves_the_grade():
    grades = [fr.freshness(CREATED, now, False, None)["grade"]
              for now in ("2026-12-01", "2027-01-30", "2027-04-30", "2027-10-01", "2028-01-01")]
    assert grades == ["A", "B", "C", "D", "F"]


def test_freshness_without_created_and_in_the_future():
    none = fr.freshness(None, "2027-01-01", False, None, note="pinned by digest")
    assert none["grade"] is None and none["age_days"] is None and none["reasons"][-1] == "pinned by digest"
    future = fr.freshness("2030-01-01", "2027-01-01", False, None)
    assert future["age_days"] == 0 and future["reasons"][0].startswith("created lies after now")
