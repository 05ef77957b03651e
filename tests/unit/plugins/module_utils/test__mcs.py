# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _mcs: label parsing, the pair space, planning, the locked record and the labels in use."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import random
import stat

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _mcs
from ansible_collections.containerhost.platform.plugins.module_utils._mcs import (
    McsAllocator,
    McsError,
    McsStateError,
    format_label,
    labels_in_use,
    parse_label,
    parse_podman_inspect,
    parse_podman_ps,
    selinux_state,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mcs"


def pairs_of(labels) -> list[tuple[int, int]]:
    """The category pairs of labels, in order."""
    return [parse_label(label)[1:] for label in labels]


def first_choice(allocator: McsAllocator, name: str) -> tuple[int, int]:
    """The pair a name's probing starts at."""
    return allocator.pair_at(allocator.start_index(name))


# ---- parse_label / format_label

@pytest.mark.parametrize("text, expected", [
    ("s0:c3,c17", ("s0", 3, 17)),
    ("s0:c17,c3", ("s0", 3, 17)),
    ("system_u:system_r:container_t:s0:c3,c17", ("s0", 3, 17)),
    ("system_u:object_r:container_file_t:s0:c1022,c1023", ("s0", 1022, 1023)),
    # The kernel prints two adjacent categories as a range.
    ("system_u:system_r:container_t:s0:c7.c8\x00", ("s0", 7, 8)),
    ("  s2:c0,c1023\n", ("s2", 0, 1023)),
    ("staff_u:staff_r:staff_t:s0:c0,c1", ("s0", 0, 1)),
])
def test_parse_label_accepts_levels_and_contexts(text, expected):
    assert parse_label(text) == expected


@pytest.mark.parametrize("text, words", [
    ("s0", "two categories"),
    ("s0:c3", "two categories"),
    ("s0:c3,c3", "repeats category c3"),
    ("s0:c3.c7", "range c3..c7"),
    ("unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023", "two categories"),
    ("s0:c3,c1024", "outside c0..c1023"),
    ("s0:c3,c17,c20", "two categories"),
    ("system_u:system_r:container_t:s0", "two categories"),
    ("container_t", "expected sN:cX,cY"),
    ("", "expected sN:cX,cY"),
    (42, "expected a string"),
    (None, "expected a string"),
])
def test_parse_label_refuses_what_is_not_a_pair(text, words):
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        parse_label(text)


def test_format_label_sorts_and_checks():
    assert format_label("s0", 17, 3) == "s0:c3,c17"
    assert format_label("s1", 0, 1023) == "s1:c0,c1023"
    for first, second in ((4, 4), (-1, 3), (3, 1024)):
        with pytest.raises(ValueError, match="two different categories in 0..1023"):
            format_label("s0", first, second)


# ---- the allocator's configuration

@pytest.mark.parametrize("kwargs, message", [
    ({"level": "x0"}, "level: 'x0' is not a sensitivity"),
    ({"level": "s0:c1"}, "level: "),
    ({"category_min": 5, "category_max": 5}, "categories: min=5, max=5 is not a range"),
    ({"category_min": -1}, "categories: min=-1"),
    ({"category_max": 1024}, "categories: min=0, max=1024"),
    ({"category_min": 10, "category_max": 3}, "categories: min=10, max=3"),
    ({"static": {"db": "s0:c3"}}, "static.db: 's0:c3' is not an MCS label"),
    ({"static": {"db": "s1:c3,c4"}}, "static.db: 's1:c3,c4' has the level s1, but level is s0; write it as s0:c3,c4"),
    ({"static": {"db": "s0:c3,c4", "web": "s0:c4,c3"}}, "static.web: 's0:c4,c3' is also the static label of db"),
    ({"static": {"bad name": "s0:c3,c4"}}, "static: 'bad name' contains whitespace"),
])
def test_allocator_refuses_bad_configuration(tmp_path, kwargs, message):
    with pytest.raises(McsError) as exc_info:
        McsAllocator(str(tmp_path / "a.json"), **kwargs)
    assert str(exc_info.value).startswith(message)


def test_pair_space_numbers_every_pair_once():
    allocator = McsAllocator("/nonexistent", category_min=7, category_max=60)
    pairs = [allocator.pair_at(index) for index in range(allocator.pair_count)]
    assert allocator.pair_count == 54 * 53 // 2
    assert len(set(pairs)) == len(pairs)
    assert pairs[0] == (7, 8) and pairs[1] == (7, 9) and pairs[53] == (8, 9) and pairs[-1] == (59, 60)
    assert all(7 <= low < high <= 60 for low, high in pairs)
    full = McsAllocator("/nonexistent")
    assert full.pair_count == 523776
    assert full.pair_at(0) == (0, 1) and full.pair_at(1022) == (0, 1023) and full.pair_at(1023) == (1, 2)
    assert full.pair_at(full.pair_count - 1) == (1022, 1023)


# ---- planning

def test_plan_keeps_recorded_labels(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"))
    allocator.allocations = {"web": "s0:c5,c900", "db": "s0:c1,c2"}
    plan = allocator.plan(["web"], [], in_use={(5, 900)})
    assert plan.labels == {"web": "s0:c5,c900"}
    assert plan.changed is False and plan.allocated == [] and plan.moved == {} and plan.released == []
    assert plan.after == {"web": "s0:c5,c900", "db": "s0:c1,c2"}


def test_new_label_starts_at_the_hash_of_the_name(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"))
    plan = allocator.plan(["web"])
    low, high = first_choice(allocator, "web")
    assert plan.labels == {"web": f"s0:c{low},c{high}"} and plan.allocated == ["web"] and plan.changed
    assert plan.diff() == {"before": {}, "after": {"web": f"s0:c{low},c{high}"}}
    # The same on another host, and whatever else is asked in the same run.
    other = McsAllocator(str(tmp_path / "b.json"))
    assert other.plan(["db", "web", "cache"]).labels["web"] == plan.labels["web"]


@pytest.mark.parametrize("blocker", ["recorded", "static", "in_use"])
def test_new_label_skips_taken_pairs(tmp_path, blocker):
    allocator = McsAllocator(str(tmp_path / "a.json"), category_min=100, category_max=200)
    wanted = first_choice(allocator, "web")
    label = format_label("s0", *wanted)
    in_use = set()
    if blocker == "recorded":
        allocator.allocations = {"other": label}
    elif blocker == "static":
        allocator = McsAllocator(str(tmp_path / "a.json"), category_min=100, category_max=200,
                                 static={"other": label})
    else:
        in_use = {wanted}
    plan = allocator.plan(["web"], [], in_use)
    expected = allocator.pair_at((allocator.start_index("web") + 1) % allocator.pair_count)
    assert pairs_of([plan.labels["web"]]) == [expected] != [wanted]


def test_static_names_get_exactly_their_label(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"), category_min=0, category_max=10,
                             static={"db": "s0:c900,c5"})
    allocator.allocations = {"db": "s0:c1,c2"}
    plan = allocator.plan(["db"])
    # Outside the range is fine for a static label; the old record is replaced.
    assert plan.labels == {"db": "s0:c5,c900"}
    assert plan.moved == {"db": "s0:c1,c2 differs from its static label"}
    assert allocator.plan(["other"]).labels["other"] != "s0:c5,c900"


@pytest.mark.parametrize("recorded, reason", [
    ({"web": "s0:c3,c1000"}, "s0:c3,c1000 is outside categories c0..c511"),
    ({"web": "s0:c4,c5"}, "s0:c4,c5 is the static label of db"),
    ({"web": "s0:c7,c8", "aaa": "s0:c7,c8"}, "s0:c7,c8 is also recorded for aaa"),
])
def test_invalid_recorded_labels_are_replaced(tmp_path, recorded, reason):
    allocator = McsAllocator(str(tmp_path / "a.json"), category_max=511, static={"db": "s0:c4,c5"})
    allocator.allocations = dict(recorded)
    plan = allocator.plan(["web"])
    assert plan.moved == {"web": reason} and plan.allocated == ["web"]
    low, high = pairs_of([plan.labels["web"]])[0]
    assert high <= 511 and (low, high) not in ((4, 5), (7, 8))
    assert plan.diff() == {"before": {"web": recorded["web"]}, "after": {"web": plan.labels["web"]}}


def test_duplicate_record_stays_with_the_first_name(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"))
    allocator.allocations = {"web": "s0:c7,c8", "aaa": "s0:c7,c8"}
    plan = allocator.plan(["aaa", "web"])
    assert plan.labels["aaa"] == "s0:c7,c8" and plan.labels["web"] != "s0:c7,c8"


def test_level_change_keeps_the_pair(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"), level="s1")
    allocator.allocations = {"web": "s0:c7,c80"}
    plan = allocator.plan(["web"])
    assert plan.labels == {"web": "s1:c7,c80"} and plan.changed
    assert plan.moved == {"web": "s0:c7,c80 is at level s0, but level is s1"}


def test_release_frees_the_pair(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"))
    allocator.allocations = {"web": "s0:c5,c6", "db": "s0:c1,c2"}
    plan = allocator.plan([], ["web", "gone"])
    assert plan.released == ["web"] and plan.after == {"db": "s0:c1,c2"} and plan.changed
    assert plan.diff() == {"before": {"web": "s0:c5,c6"}, "after": {}}
    allocator.allocations = {"db": "s0:c1,c2"}
    assert allocator.plan([], ["gone"]).changed is False


def test_present_and_absent_together_is_refused(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"))
    with pytest.raises(McsError, match="^names: web cannot be both present and absent$"):
        allocator.plan(["web", "db"], ["web"])
    with pytest.raises(McsError, match=r"^names\[1\]: '' is not a valid name"):
        allocator.plan(["web", ""])


def test_exhausted_range_names_categories(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"), category_min=0, category_max=2, static={"db": "s0:c0,c1"})
    allocator.allocations = {"web": "s0:c0,c2"}
    assert allocator.plan(["web", "cache"]).labels["cache"] == "s0:c1,c2"
    with pytest.raises(McsError) as exc_info:
        allocator.plan(["cache", "extra"], in_use={(1, 2)})
    assert str(exc_info.value) == (
        "categories: c0..c2 hold 3 pairs and 0 are free, but 2 new labels are needed (1 recorded, 1 static, 1 in use "
        "by running containers or processes); widen categories or release names that are gone (state=absent)")


def test_order_of_names_does_not_change_the_labels(tmp_path):
    names = [f"ctr-{index}" for index in range(300)]
    allocator = McsAllocator(str(tmp_path / "a.json"), category_min=0, category_max=40)
    forward = allocator.plan(names).labels
    backward = allocator.plan(list(reversed(names))).labels
    assert forward == backward


# ---- properties: thousands of allocations

def assert_valid_allocations(allocations: dict[str, str], low_bound: int = 0, high_bound: int = 1023) -> None:
    """All labels distinct pairs, X < Y, inside the range, at s0."""
    pairs = pairs_of(allocations.values())
    assert len(set(pairs)) == len(pairs) == len(allocations)
    assert all(low_bound <= low < high <= high_bound for low, high in pairs)
    assert all(label.startswith("s0:c") and "," in label for label in allocations.values())


def test_property_5000_names_never_repeat_and_survive_reruns(tmp_path):
    state = tmp_path / "mcs" / "allocations.json"
    allocator = McsAllocator(str(state))
    names = [f"container-{index:05d}" for index in range(5000)]
    plan = allocator.plan(names)
    assert_valid_allocations(plan.labels)
    with allocator.locked():
        allocator.save(plan.after)
    again = McsAllocator(str(state))
    again.load()
    replan = again.plan(list(reversed(names)))
    assert replan.changed is False and replan.labels == plan.labels


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_property_random_rounds_keep_pairs_unique(tmp_path, seed):
    rng = random.Random(seed)
    allocator = McsAllocator(str(tmp_path / "a.json"), category_min=rng.randint(0, 100),
                             category_max=rng.randint(200, 1023))
    alive: dict[str, str] = {}
    for round_number in range(40):
        new = [f"r{round_number}-{index}" for index in range(rng.randint(1, 60))]
        gone = rng.sample(sorted(alive), k=min(len(alive), rng.randint(0, 10)))
        running = {allocator.pair_at(rng.randrange(allocator.pair_count)) for dummy in range(30)}
        # Make some new names' first choice busy, so probing is exercised.
        running |= {first_choice(allocator, name) for name in new[:5]}
        staying = sorted(set(alive) - set(gone))
        plan = allocator.plan(new + rng.sample(staying, k=min(len(staying), 5)), gone, running)
        fresh_pairs = set(pairs_of(plan.labels[name] for name in new))
        assert not fresh_pairs & running
        for name in gone:
            del alive[name]
        alive.update(plan.labels)
        assert plan.after == alive
        assert_valid_allocations(alive, allocator.category_min, allocator.category_max)
        allocator.allocations = plan.after
    assert allocator.plan(sorted(alive)).changed is False


def test_property_tiny_range_fills_up_then_refuses(tmp_path):
    allocator = McsAllocator(str(tmp_path / "a.json"), category_min=10, category_max=19)
    assert allocator.pair_count == 45
    for index in range(45):
        plan = allocator.plan([f"n{index}"])
        allocator.allocations = plan.after
    assert_valid_allocations(allocator.allocations, 10, 19)
    assert set(pairs_of(allocator.allocations.values())) == {(a, b) for a in range(10, 20) for b in range(a + 1, 20)}
    with pytest.raises(McsError, match=r"^categories: c10\.\.c19 hold 45 pairs and 0 are free, but 1 new labels"):
        allocator.plan(["one-more"])
    # Releasing one makes room for exactly one.
    freed = allocator.allocations["n7"]
    plan = allocator.plan(["one-more"], ["n7"])
    assert plan.labels == {"one-more": freed}


# ---- the record on disk

def test_save_writes_a_private_versioned_file(tmp_path):
    state = tmp_path / "lib" / "mcs" / "allocations.json"
    allocator = McsAllocator(str(state))
    with allocator.locked():
        allocator.load()
        allocator.save({"web": "s0:c5,c6", "db": "s0:c1,c2"})
    assert json.loads(state.read_text()) == {"version": 1, "level": "s0",
                                             "allocations": {"db": "s0:c1,c2", "web": "s0:c5,c6"}}
    assert state.read_text().endswith("}\n")
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(f"{state}.lock").stat().st_mode) == 0o600
    assert sorted(p.name for p in state.parent.iterdir()) == ["allocations.json", "allocations.json.lock"]
    reader = McsAllocator(str(state))
    assert reader.load() == {"web": "s0:c5,c6", "db": "s0:c1,c2"}


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    state = tmp_path / "allocations.json"
    allocator = McsAllocator(str(state))
    allocator.save({"web": "s0:c5,c6"})
    before = state.read_text()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_mcs.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        allocator.save({"web": "s0:c5,c6", "db": "s0:c1,c2"})
    assert state.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["allocations.json"]


@pytest.mark.parametrize("content, words", [
    ("{not json", "is not valid JSON"),
    ('{"version": 1}', "has no 'allocations' object"),
    ('{"version": 2, "allocations": {}}', "has version 2; this collection reads version 1"),
    ('{"version": 1, "allocations": {"web": "s0:c1"}}', "the label 's0:c1' of web is not sN:cX,cY"),
])
def test_load_refuses_a_damaged_file(tmp_path, content, words):
    state = tmp_path / "allocations.json"
    state.write_text(content)
    with pytest.raises(McsStateError) as exc_info:
        McsAllocator(str(state)).load()
    assert str(exc_info.value).startswith(f"state_path: {state}")
    assert words in str(exc_info.value)


def test_missing_file_is_no_allocations(tmp_path):
    assert McsAllocator(str(tmp_path / "none" / "a.json")).load() == {}


def test_two_allocators_in_sequence_share_the_record(tmp_path):
    state = str(tmp_path / "mcs" / "a.json")
    label_a, changed_a = McsAllocator(state, category_max=2).allocate("a")
    label_b, changed_b = McsAllocator(state, category_max=2).allocate("b")
    assert changed_a and changed_b and label_a != label_b
    assert McsAllocator(state, category_max=2).allocate("a") == (label_a, False)
    assert McsAllocator(state).load() == {"a": label_a, "b": label_b}
    assert McsAllocator(state).release("a") is True
    assert McsAllocator(state).release("a") is False
    assert McsAllocator(state).load() == {"b": label_b}


def test_check_mode_creates_nothing(tmp_path):
    state = tmp_path / "mcs" / "a.json"
    allocator = McsAllocator(str(state))
    label, changed = allocator.allocate("web", check_mode=True)
    assert changed and label == format_label("s0", *first_choice(allocator, "web"))
    assert not state.parent.exists()
    assert allocator.release("web", check_mode=True) is False
    allocator.allocate("web")
    assert allocator.release("web", check_mode=True) is True
    assert McsAllocator(str(state)).load() == {"web": label}


def test_lock_is_exclusive_and_times_out(tmp_path):
    state = tmp_path / "a.json"
    allocator = McsAllocator(str(state))
    with allocator.locked():
        # Another open file description, as another process would have.
        with open(f"{state}.lock", "rb") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        with pytest.raises(McsStateError, match=r"has been locked by another process for 0s"):
            with McsAllocator(str(state)).locked(timeout=0.1):
                pass
    with McsAllocator(str(state)).locked(write=False, timeout=0.1):
        pass


def _allocate_many(state: str, prefix: str, count: int) -> None:
    """Worker for the concurrency test: allocate ``count`` names one by one."""
    allocator = McsAllocator(state, category_min=0, category_max=30)
    for index in range(count):
        allocator.allocate(f"{prefix}-{index}")


def test_concurrent_writers_never_share_a_pair(tmp_path):
    state = str(tmp_path / "mcs" / "a.json")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_allocate_many, args=(state, f"w{number}", 40)) for number in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    allocations = McsAllocator(state).load()
    assert len(allocations) == 160
    assert_valid_allocations(allocations, 0, 30)


# ---- what the host runs with

def test_labels_in_use_reads_processes_and_oci_configs(tmp_path):
    proc = tmp_path / "proc"
    contexts = {
        "1": "system_u:system_r:init_t:s0\x00",
        "200": "system_u:system_r:container_t:s0:c12,c345\x00",
        "201": "system_u:system_r:container_t:s0:c7.c8\n",
        "300": "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\x00",
    }
    for pid, context in contexts.items():
        (proc / pid / "attr").mkdir(parents=True)
        (proc / pid / "attr" / "current").write_text(context)
    (proc / "400").mkdir()  # exited while we looked: no attr
    (proc / "self").mkdir()
    (proc / "self" / "attr").mkdir()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({
        "ociVersion": "1.0.2", "process": {"selinuxLabel": "system_u:system_r:container_t:s0:c40,c41", "args": ["sh"]},
        "linux": {"mountLabel": "system_u:object_r:container_file_t:s0:c50,c60"}}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"process": {"selinuxLabel": ""}, "linux": {"mountLabel": "s0:c1,c2"}}))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    extra = [str(bundle), str(other), str(broken), str(tmp_path / "missing.json")]
    assert labels_in_use(str(proc), extra) == {(12, 345), (7, 8), (40, 41), (50, 60), (1, 2)}
    assert labels_in_use(None, extra) == {(40, 41), (50, 60), (1, 2)}
    assert labels_in_use(str(tmp_path / "no-proc")) == set()


@pytest.mark.parametrize("content, expected", [(None, "disabled"), ("0\n", "permissive"), ("1", "enforcing")])
def test_selinux_state(tmp_path, content, expected):
    enforce = tmp_path / "enforce"
    if content is not None:
        enforce.write_text(content)
    assert selinux_state(str(enforce)) == expected


def test_podman_ps_sample_gives_the_container_ids():
    # Captured from podman 4.3.1 (Debian 12), two created containers.
    ids = parse_podman_ps((FIXTURES / "podman-4.3-ps.json").read_text())
    assert ids == (FIXTURES / "podman-4.3-ps-quiet.txt").read_text().split()
    assert len(ids) == 2 and all(len(container_id) == 64 for container_id in ids)
    assert parse_podman_ps("[]\n") == [] and parse_podman_ps("") == [] and parse_podman_ps("null") == []
    with pytest.raises(ValueError, match="not print a JSON array"):
        parse_podman_ps('{"Id": "x"}')


def test_podman_inspect_sample_gives_the_pairs():
    # podman 4.3.1 output; the labels are those podman reports on an SELinux host (the capture host had it off).
    text = (FIXTURES / "podman-4.3-container-inspect.json").read_text()
    assert parse_podman_inspect(text) == {(12, 345), (7, 101)}
    data = json.loads(text)
    for container in data:
        container["ProcessLabel"] = container["MountLabel"] = ""
    # With SELinux off podman still keeps a level that was asked for in SecurityOpt.
    assert parse_podman_inspect(json.dumps(data)) == {(12, 345)}
    data[0]["HostConfig"]["SecurityOpt"] = ["label=disable", "label=type:spc_t"]
    assert parse_podman_inspect(json.dumps(data)) == set()
    assert parse_podman_inspect("") == set()
    with pytest.raises(ValueError):
        parse_podman_inspect("{")
