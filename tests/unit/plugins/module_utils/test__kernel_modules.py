# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for kernel module names, parameters, modprobe.d/modules-load.d files and a fake /sys/module tree."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _kernel_modules as km

RELEASE = "6.1.0-test-amd64"


def make_files(root: Path, files: dict[str, str]) -> None:
    """Write host files below root."""
    for path, text in files.items():
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)


@pytest.mark.parametrize("name", ["br_netfilter", "nf-conntrack", "8021q", "ip_vs_rr", "X"])
def test_valid_names(name):
    assert km.validate_name(name, "name") == name


@pytest.mark.parametrize("name", ["", "br netfilter", "../x", "a.b", "a/b", None, 5, "ü"])
def test_invalid_names_name_the_field(name):
    with pytest.raises(km.KernelModuleError) as info:
        km.validate_name(name, "modules[0] (x): name")
    assert str(info.value).startswith("modules[0] (x): name: ")
    assert "letters, digits, _ and -" in str(info.value)


def test_canonical_name():
    assert km.canonical_name("nf-conntrack") == "nf_conntrack"


def test_normalize_params():
    assert km.normalize_params({"hash-size": 1024, "enable": True, "off": False, "list": [1, 2, 3], "s": "abc"},
                               "w") == {"hash_size": "1024", "enable": "1", "off": "0", "list": "1,2,3", "s": "abc"}
    assert km.normalize_params(None, "w") == {}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"a b": 1}, "w: params.a b: 'a b' is not accepted"),
        ({"a": "x y"}, "w: params.a: 'x y' is not accepted; a value is one word"),
        ({"a": 'x"'}, "one word without whitespace, quotes"),
        ({"a": 1.5}, "w: params.a: 1.5 is a float"),
        ({"a": {"b": 1}}, "is a dict"),
        ({"a-b": 1, "a_b": 2}, "w: params.a_b: the same parameter"),
        ("a=1", "w: params: 'a=1' is not a mapping"),
    ],
)
def test_normalize_params_refuses(params, fragment):
    with pytest.raises(km.KernelModuleError) as info:
        km.normalize_params(params, "w")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("y", True), ("Y", True), ("on", True), ("0", False), ("n", False), ("off", False),
     ("2", None), ("", None), ("o", None), ("true", None)],
)
def test_kstrtobool(text, expected):
    assert km.kstrtobool(text) is expected


@pytest.mark.parametrize(
    ("wanted", "actual", "equal"),
    [
        ("1", "Y", True), ("0", "N", True), ("1", "N", False), ("yes", "Y", True), ("maybe", "Y", False),
        ("262144", "262144", True), ("0x10", "16", True), ("16", "0x10", True), ("16", "17", False),
        ("1,2,3", "1,2,3", True), ("1,2", "1,2,3", False), ("abc", "abc", True), ("abc", "abd", False),
        ("08", "08", True),
    ],
)
def test_param_equal(wanted, actual, equal):
    assert km.param_equal(wanted, actual) is equal


def test_parse_and_check_param_types():
    types = km.parse_parmtypes("hashsize:uint\nnf_conntrack_helper:bool\nlist:array of int\ndesc:charp\n")
    assert types == {"hashsize": "uint", "nf_conntrack_helper": "bool", "list": "array of int", "desc": "charp"}
    assert km.check_param_types({"hashsize": "0x100", "nf_conntrack_helper": "1", "list": "1,2", "desc": "x"},
                                types, "w") == ([], [])
    errors, unlisted = km.check_param_types({"hashsiz": "1", "hashsize": "big", "nf_conntrack_helper": "maybe",
                                             "list": "1,x", "expect_hashsize": "4"}, types, "w")
    assert unlisted == ["w: params.expect_hashsize"]
    assert errors == [
        "w: params.hashsiz: the module has no such parameter (did you mean hashsize? it has: desc, hashsize, list, "
        "nf_conntrack_helper)",
        "w: params.hashsize: 'big' is not a number (uint)",
        "w: params.nf_conntrack_helper: 'maybe' is not a boolean (bool: 1/0, y/n, on/off)",
        "w: params.list: '1,x' is not a number (array of int)",
    ]


HEADER = ["Ansible managed", "fingerprint"]


def test_render_files_and_parse_back():
    load = km.render_modules_load(HEADER, ["overlay", "br_netfilter"])
    assert load == "# Ansible managed\n# fingerprint\noverlay\nbr_netfilter\n"
    assert km.parse_modules_load(load) == ["overlay", "br_netfilter"]
    options = km.render_modprobe_options(HEADER, [("overlay", {}), ("nf_conntrack", {"hashsize": "1024", "x": "1"})])
    assert options == "# Ansible managed\n# fingerprint\noptions nf_conntrack hashsize=1024 x=1\n"
    assert km.parse_modprobe_conf(options) == [("options", "nf_conntrack", "hashsize=1024 x=1")]
    assert km.render_modules_load(HEADER, []) is None
    assert km.render_modprobe_options(HEADER, [("overlay", {})]) is None


def test_parse_modprobe_conf_joins_continuations_and_options():
    text = "# c\nblacklist nouveau\ninstall dummy \\\n  /bin/false\noptions nf-conntrack hashsize=1 helper\n"
    assert km.parse_modprobe_conf(text) == [("blacklist", "nouveau", ""), ("install", "dummy", "/bin/false"),
                                            ("options", "nf_conntrack", "hashsize=1 helper")]
    assert km.parse_options("hashsize=1 helper") == {"hashsize": "1", "helper": "Y"}


def test_foreign_rules(tmp_path):
    make_files(tmp_path, {
        "/etc/modprobe.d/containerhost.conf": "options dummy numdummies=2\n",
        "/etc/modprobe.d/local.conf": "install dummy /bin/false\noptions nf_conntrack hashsize=1024\n",
        "/lib/modprobe.d/aliases.conf": "options nf_conntrack hashsize=4096 other=1\n",
    })
    rules = km.foreign_rules(str(tmp_path), "/etc/modprobe.d/containerhost.conf",
                             {"dummy": {"numdummies": "2"}, "nf_conntrack": {"hashsize": "4096"}})
    assert rules == {
        "dummy": ["/etc/modprobe.d/local.conf: 'install dummy /bin/false' refuses to load it"],
        "nf_conntrack": ["/etc/modprobe.d/local.conf: sets hashsize=1024"],
    }


@pytest.fixture(name="kernel")
def fixture_kernel(tmp_path: Path) -> SimpleNamespace:
    make_files(tmp_path, {
        "/sys/module/overlay/initstate": "live\n",
        "/sys/module/overlay/refcnt": "0\n",
        "/sys/module/overlay/parameters/metacopy": "N\n",
        "/sys/module/bridge/initstate": "live\n",
        "/sys/module/bridge/refcnt": "1\n",
        "/sys/module/bridge/holders/br_netfilter": "",
        "/sys/module/nf_conntrack/initstate": "live\n",
        "/sys/module/nf_conntrack/refcnt": "3\n",
        "/sys/module/printk/parameters/time": "Y\n",
        f"/lib/modules/{RELEASE}/modules.builtin": "kernel/fs/ext4/ext4.ko\nkernel/drivers/block/loop.ko\n",
        "/proc/self/status": "Name:\tx\nCapEff:\t000001ffffffffff\n",
        "/proc/sys/kernel/modules_disabled": "0\n",
    })
    return SimpleNamespace(root=tmp_path, sys=km.SysModules(str(tmp_path), RELEASE))


def test_sys_modules_states(kernel):
    assert kernel.sys.state("overlay") == "live"
    assert kernel.sys.state("printk") == "builtin"
    assert kernel.sys.state("ext4") == "builtin"
    assert kernel.sys.state("nf-conntrack") == "live"
    assert kernel.sys.state("dummy") is None
    assert kernel.sys.has_modules_dir()
    assert not km.SysModules(str(kernel.root), "other").has_modules_dir()


def test_sys_modules_params_and_users(kernel):
    assert kernel.sys.param_values("overlay", ["metacopy", "hidden"]) == {"metacopy": "N", "hidden": None}
    assert kernel.sys.users("overlay") == []
    assert kernel.sys.users("bridge") == ["used by br_netfilter"]
    assert kernel.sys.users("nf_conntrack") == ["reference count 3"]


def test_capabilities_and_disabled_loading(kernel):
    assert kernel.sys.can_load() is True
    (kernel.root / "proc/self/status").write_text("CapEff:\t00000000a80425fb\n")
    assert kernel.sys.can_load() is False
    (kernel.root / "proc/self/status").write_text("Name: x\n")
    assert kernel.sys.can_load() is None
    assert not kernel.sys.loading_disabled()
    (kernel.root / "proc/sys/kernel/modules_disabled").write_text("1\n")
    assert kernel.sys.loading_disabled()


class FakeModule:
    """Enough of AnsibleModule for the runner: run_command answers from a table."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str, str]]) -> None:
        self.answers = answers
        self.environ: list[dict[str, str]] = []

    def get_bin_path(self, name, opt_dirs=None):
        return f"/usr/sbin/{name}"

    def run_command(self, argv, environ_update=None):
        self.environ.append(environ_update)
        return self.answers[tuple(argv)]


def test_modprobe_runner_argv_and_errors():
    module = FakeModule({
        ("/usr/sbin/modprobe", "--resolve-alias", "crc32c"): (0, "crc32c_generic\ncrc32c-intel\n", ""),
        ("/usr/sbin/modprobe", "--resolve-alias", "nope"): (1, "", "modprobe: FATAL: Module nope not found in "
                                                                   "directory /lib/modules/6.1.0\n"),
        ("/usr/sbin/modprobe", "dummy", "numdummies=2"): (0, "", ""),
        ("/usr/sbin/modprobe", "--remove", "dummy"): (1, "", "modprobe: FATAL: Module dummy is in use.\n"),
        ("/usr/sbin/modinfo", "-F", "parmtype", "dummy"): (0, "numdummies:int\n", ""),
    })
    runner = km.Modprobe(module)
    assert runner.resolve("crc32c") == ["crc32c_generic", "crc32c_intel"]
    with pytest.raises(km.ModprobeError) as info:
        runner.resolve("nope")
    assert "Module nope not found" in str(info.value) and info.value.result()["rc"] == 1
    runner.load("dummy", {"numdummies": "2"})
    with pytest.raises(km.ModprobeError, match="is in use"):
        runner.unload("dummy")
    assert runner.parmtypes("dummy") == {"numdummies": "int"}
    assert module.environ[0] == {"LC_ALL": "C", "LANG": "C"}
