# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""How fresh an image is: its age in days and a grade from A to F by a documented, configurable rule.

The rule: the age in whole days (rounded down) from the image's ``created`` time to ``now`` gives the base grade,
A when age <= age_days.A, else B when age <= age_days.B, C when <= age_days.C, D when <= age_days.D, else F. When
the registry holds a newer digest for the image's tag (an update not applied here), the grade drops by
``newer_digest_penalty`` steps (never below F). Every step taken is listed in ``reasons``.
"""

from __future__ import annotations

import datetime
import re
import typing as t

GRADES = ("A", "B", "C", "D", "F")
THRESHOLD_GRADES = ("A", "B", "C", "D")
DEFAULT_RULE: dict[str, t.Any] = {"age_days": {"A": 30, "B": 90, "C": 180, "D": 365}, "newer_digest_penalty": 1}

# RFC 3339 / ISO 8601 with optional fraction (Go prints up to 9 digits) and Z or an offset; a date alone is midnight UTC.
_TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$",
                      re.IGNORECASE)


class FreshnessError(ValueError):
    """A time or grade rule that cannot be used; the message says what is accepted."""


def parse_time(text: t.Any, what: str = "time") -> datetime.datetime:
    """An aware UTC datetime from ISO 8601 text (``2024-05-01T10:00:00Z``, nanoseconds and offsets allowed)."""
    if isinstance(text, datetime.datetime):
        return text if text.tzinfo else text.replace(tzinfo=datetime.timezone.utc)
    match = _TIME_RE.match(str(text or "").strip())
    if not match:
        raise FreshnessError(f"{what} {text!r} is not an ISO 8601 time; accepted: YYYY-MM-DD or "
                             "YYYY-MM-DDTHH:MM[:SS[.fraction]] with Z or a +HH:MM offset (UTC when none)")
    day, hour, minute, second, fraction, zone = match.groups()
    try:
        year, month, mday = (int(part) for part in day.split("-"))
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        value = datetime.datetime(year, month, mday, int(hour or 0), int(minute or 0), int(second or 0), micro,
                                  tzinfo=datetime.timezone.utc)
    except ValueError as exc:
        raise FreshnessError(f"{what} {text!r} is not a valid date or time: {exc}") from None
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        value -= sign * offset
    return value


def age_days(created: t.Any, now: t.Any) -> int:
    """Whole days (rounded down) from ``created`` to ``now``; 0 when created lies in the future."""
    delta = parse_time(now, "now") - parse_time(created, "created")
    return max(0, delta.days)


def validate_rule(rule: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """The grade rule with defaults filled in; refuses unknown keys, negative or decreasing thresholds."""
    rule = dict(rule or {})
    unknown = sorted(set(rule) - {"age_days", "newer_digest_penalty"})
    if unknown:
        raise FreshnessError(f"grade_rule: unknown key(s) {', '.join(unknown)}; accepted: age_days, "
                             "newer_digest_penalty")
    thresholds = dict(DEFAULT_RULE["age_days"])
    given = rule.get("age_days")
    if given is not None:
        if not isinstance(given, t.Mapping):
            raise FreshnessError("grade_rule.age_days must be a mapping of grade to days, such as "
                                 "{A: 30, B: 90, C: 180, D: 365}")
        bad = sorted(str(key) for key in given if str(key).upper() not in THRESHOLD_GRADES)
        if bad:
            raise FreshnessError(f"grade_rule.age_days: unknown grade(s) {', '.join(bad)}; accepted: A, B, C, D "
                                 "(older than D is F)")
        for key, value in given.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                try:
                    value = int(str(value))
                except ValueError:
                    value = -1
                if value < 0:
                    raise FreshnessError(f"grade_rule.age_days.{key}: {given[key]!r} is not a number of days >= 0")
            thresholds[str(key).upper()] = int(value)
    for lower, higher in zip(THRESHOLD_GRADES, THRESHOLD_GRADES[1:]):
        if thresholds[higher] < thresholds[lower]:
            raise FreshnessError(f"grade_rule.age_days: {higher} ({thresholds[higher]}) is below {lower} "
                                 f"({thresholds[lower]}); the thresholds must not decrease from A to D")
    penalty = rule.get("newer_digest_penalty", DEFAULT_RULE["newer_digest_penalty"])
    if isinstance(penalty, bool) or not isinstance(penalty, int) or not 0 <= penalty <= len(GRADES) - 1:
        try:
            penalty = int(str(penalty))
        except ValueError:
            penalty = -1
        if not 0 <= penalty <= len(GRADES) - 1:
            raise FreshnessError(f"grade_rule.newer_digest_penalty: {rule.get('newer_digest_penalty')!r} is not a "
                                 f"number of grade steps from 0 to {len(GRADES) - 1}")
    return {"age_days": thresholds, "newer_digest_penalty": penalty}


def grade(age: int, newer_digest: bool | None, rule: t.Mapping[str, t.Any] | None = None) -> tuple[str, list[str]]:
    """The grade for an age in days and a pending newer digest, and the reasons for it."""
    rule = validate_rule(rule)
    thresholds = rule["age_days"]
    base = next((letter for letter in THRESHOLD_GRADES if age <= thresholds[letter]), "F")
    if base == "F":
        reasons = [f"age {age} days is above {thresholds['D']} (the limit for D): F"]
    else:
        reasons = [f"age {age} days is at most {thresholds[base]} (the limit for {base}): {base}"]
    result = base
    if newer_digest:
        penalty = rule["newer_digest_penalty"]
        result = GRADES[min(GRADES.index(base) + penalty, len(GRADES) - 1)]
        reasons.append(f"the registry holds a newer digest for the tag: {penalty} step(s) down to {result}")
    elif newer_digest is None:
        reasons.append("whether the registry holds a newer digest is unknown: no penalty")
    return result, reasons


def freshness(created: t.Any, now: t.Any, newer_digest: bool | None, registry_digest: str | None,
              rule: t.Mapping[str, t.Any] | None = None, note: str | None = None) -> dict[str, t.Any]:
    """The freshness a task returns: age_days, newer_digest, registry_digest, grade and reasons."""
    if not created:
        reasons = ["the image has no creation time: no age, no grade"] + ([note] if note else [])
        return {"age_days": None, "newer_digest": newer_digest, "registry_digest": registry_digest, "grade": None,
                "reasons": reasons}
    age = age_days(created, now)
    letter, reasons = grade(age, newer_digest, rule)
    if parse_time(created, "created") > parse_time(now, "now"):
        reasons.insert(0, "created lies after now (clock skew or a simulated clock): age counted as 0")
    if note:
        reasons.append(note)
    return {"age_days": age, "newer_digest": newer_digest, "registry_digest": registry_digest, "grade": letter,
            "reasons": reasons}
