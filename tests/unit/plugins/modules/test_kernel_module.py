# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.kernel_module module, run through main() against a fake kernel."""

from __future__ import annotations

import shutil
import stat
import typing as t

from pathlib import Path

import pytest

from ansible.module_utils import basic

from ansible_collections.containerhost.platform.plugins.modules import kernel_module

RELEASE = "6.1.0-test-amd64"
MODPROBE = "/usr/sbin/modprobe"
MODINFO = "/usr/sbin/modinfo"
LOAD_FILE = "etc/modules-load.d/containerhost.conf"
OPTIONS_FILE = "etc/modprobe.d/containerhost.conf"
HEADER = ("# Ansible managed: containerhost.platform.kernel_module\n"
          "# Changes are overwritten by the next run; change the playbook instead.\n"
          "# containerhost.platform:kernel_module\n")

# Modules the fake kernel can load: visible parameters with defaults and types, hidden ones (permission 0),
# what they pull in, and aliases.
AVAILABLE: dict[str, dict[str, t.Any]] = {
    "overlay": {"params": {"metacopy": ("N", "bool")}},
    "br_netfilter": {"deps": ["bridge"]},
    "bridge": {},
    # expect_hashsize stands for a parameter declared without a type: modinfo does not list it.
    "nf_conntrack": {"params": {"hashsize": ("65536", "uint"), "expect_hashsize": ("1024", None)}},
    "dummy": {"hidden": {"numdummies": "int"}},
    "crc32c_generic": {},
}
ALIASES = {"crc32c": ["crc32c_generic"]}


class FakeKernel:
    """A root with /sys/module, /lib/modules and /proc, and modprobe/modinfo acting on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[list[str]] = []
        self.fail_load: dict[str, str] = {}
        # Loads that keep the default value of a parameter, whatever was asked (as a module loaded earlier would).
        self.ignore_params: set[str] = set()
        self.write(f"/lib/modules/{RELEASE}/modules.builtin", "kernel/fs/ext4/ext4.ko\n")
        self.write("/proc/self/status", "CapEff:\t000001ffffffffff\n")
        self.write("/proc/sys/kernel/modules_disabled", "0\n")
        self.write("/sys/module/printk/parameters/time", "Y\n")

    def write(self, path: str, text: str) -> None:
        """Write a host file below the root."""
        full = self.root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)

    def sys(self, name: str) -> Path:
        """The /sys/module directory of a module."""
        return self.root / "sys" / "module" / name

    def insert(self, name: str, params: dict[str, str] | None = None) -> None:
        """Put a module into the kernel with its parameters."""
        spec = AVAILABLE[name]
        for dep in spec.get("deps", []):
            if not self.sys(dep).is_dir():
                self.insert(dep)
        self.write(f"/sys/module/{name}/initstate", "live\n")
        self.write(f"/sys/module/{name}/refcnt", "0\n")
        (self.sys(name) / "holders").mkdir(exist_ok=True)
        for param, (default, kind) in spec.get("params", {}).items():
            value = (params or {}).get(param, default)
            if name in self.ignore_params:
                value = default
            if kind == "bool":
                value = "Y" if value in ("1", "Y", "y") else "N"
            self.write(f"/sys/module/{name}/parameters/{param}", f"{value}\n")
        for dep in spec.get("deps", []):
            (self.sys(dep) / "holders" / name).mkdir(parents=True, exist_ok=True)

    def run_command(self, argv: list[str], **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and kwargs.get("environ_update") == {"LC_ALL": "C", "LANG": "C"}
        self.calls.append(argv)
        name = argv[-1].replace("-", "_")
        if argv[0] == MODINFO:
            assert argv[1:3] == ["-F", "parmtype"]
            spec = AVAILABLE.get(name)
            if spec is None:
                return 1, "", f"modinfo: ERROR: Module {name} not found.\n"
            types = {**{p: kind for p, (dummy, kind) in spec.get("params", {}).items() if kind},
                     **spec.get("hidden", {})}
            return 0, "".join(f"{p}:{kind}\n" for p, kind in types.items()), ""
        assert argv[0] == MODPROBE
        if argv[1] == "--resolve-alias":
            if name in ALIASES:
                return 0, "".join(f"{n}\n" for n in ALIASES[name]), ""
            if name in AVAILABLE or name == "ext4":
                return 0, f"{name}\n", ""
            return 1, "", f"modprobe: FATAL: Module {argv[-1]} not found in directory /lib/modules/{RELEASE}\n"
        if argv[1] == "--remove":
            if not self.sys(name).is_dir():
                return 1, "", f"modprobe: FATAL: Module {name} is not in kernel.\n"
            shutil.rmtree(self.sys(name))
            return 0, "", ""
        name = argv[1].replace("-", "_")
        if name in self.fail_load:
            return 1, "", self.fail_load[name]
        name = ALIASES.get(name, [name])[0]
        self.insert(name, dict(arg.split("=", 1) for arg in argv[2:]))
        return 0, "", ""

    def verbs(self) -> list[str]:
        """The commands run so far, shortened: 'resolve x', 'load x', 'remove x', 'modinfo x'."""
        out = []
        for argv in self.calls:
            if argv[0] == MODINFO:
                out.append(f"modinfo {argv[-1]}")
            elif argv[1] == "--resolve-alias":
                out.append(f"resolve {argv[-1]}")
            elif argv[1] == "--remove":
                out.append(f"remove {argv[-1]}")
            else:
                out.append(" ".join(["load", *argv[1:]]))
        return out

    def file(self, path: str) -> str | None:
        """A file's text below the root, or None."""
        full = self.root / path
        return full.read_text() if full.exists() else None


@pytest.fixture(name="kernel")
def fixture_kernel(tmp_path: Path, fake_commands, monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setattr(kernel_module, "_ROOT", str(root))
    monkeypatch.setattr(kernel_module, "_RELEASE", RELEASE)
    return fake_commands(FakeKernel(root), {"modprobe": MODPROBE, "modinfo": MODINFO}.get)


@pytest.fixture(name="run")
def fixture_run(kernel, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(modules: list[dict[str, t.Any]], check: bool = False, diff: bool = False, fail: bool = False,
             **params: t.Any) -> dict[str, t.Any]:
        return run_main(kernel_module.main, {"modules": modules, **params}, check=check, diff=diff, fail=fail)

    return _run


MODULES = [
    {"name": "overlay"},
    {"name": "br-netfilter"},
    {"name": "nf_conntrack", "params": {"hashsize": 262144}},
    {"name": "dummy", "params": {"numdummies": 2}, "boot": False},
]


def test_loads_modules_writes_files_and_verifies(kernel, run, warnings):
    result = run(MODULES)
    assert result["changed"] is True
    assert kernel.verbs() == [
        "resolve overlay", "resolve br-netfilter", "resolve nf_conntrack", "resolve dummy",
        "modinfo nf_conntrack", "modinfo dummy",
        "load overlay", "load br-netfilter", "load nf_conntrack hashsize=262144", "load dummy numdummies=2",
    ]
    assert result["loaded"] == ["overlay", "br-netfilter", "nf_conntrack", "dummy"]
    assert result["changed_modules"] == ["overlay", "br-netfilter", "nf_conntrack", "dummy"]
    assert result["skipped_modules"] == {} and result["reload_required"] == [] and warnings == []
    assert result["files_changed"] == ["/etc/modprobe.d/containerhost.conf", "/etc/modules-load.d/containerhost.conf"]
    assert kernel.file(LOAD_FILE) == HEADER + "overlay\nbr_netfilter\nnf_conntrack\n"
    assert kernel.file(OPTIONS_FILE) == HEADER + "options nf_conntrack hashsize=262144\noptions dummy numdummies=2\n"
    assert stat.S_IMODE((kernel.root / LOAD_FILE).stat().st_mode) == 0o644
    conntrack, dummy = result["modules"][2], result["modules"][3]
    assert conntrack["action"] == "load" and conntrack["params_current"] == {"hashsize": "262144"}
    assert conntrack["params_unverified"] == [] and conntrack["builtin"] is False
    assert dummy["params_current"] == {"numdummies": None} and dummy["params_unverified"] == ["numdummies"]


def test_second_run_runs_no_command_and_changes_nothing(kernel, run):
    run(MODULES)
    kernel.calls.clear()
    result = run(MODULES)
    assert result["changed"] is False and result["changed_modules"] == [] and result["files_changed"] == []
    assert kernel.calls == []
    assert all(entry["action"] is None and entry["loaded"] for entry in result["modules"])


def test_check_mode_predicts_exactly(kernel, run):
    predicted = run(MODULES, check=True)
    assert [verb for verb in kernel.verbs() if verb.startswith("load")] == []
    assert kernel.file(LOAD_FILE) is None and not kernel.sys("overlay").exists()
    real = run(MODULES)
    for key in ("changed", "loaded", "changed_modules", "skipped_modules", "files_changed", "reload_required"):
        assert real[key] == predicted[key], key
    assert run(MODULES, check=True)["changed"] is False


def test_diff_shows_files_and_module_actions(kernel, run):
    run([{"name": "overlay"}])
    result = run([{"name": "overlay"}, {"name": "nf_conntrack", "params": {"hashsize": 1024}}], diff=True)
    options_diff, load_diff, actions = result["diff"]
    assert options_diff == {"before_header": "/etc/modprobe.d/containerhost.conf",
                            "after_header": "/etc/modprobe.d/containerhost.conf", "before": "",
                            "after": HEADER + "options nf_conntrack hashsize=1024\n"}
    assert load_diff["before"] == HEADER + "overlay\n" and load_diff["after"] == HEADER + "overlay\nnf_conntrack\n"
    assert actions["before"] == "nf_conntrack: not loaded\n"
    assert actions["after"] == "nf_conntrack: loaded (hashsize=1024)\n"


def test_loaded_with_other_params_is_reported_not_reloaded(kernel, run, warnings):
    kernel.insert("nf_conntrack", {"hashsize": "65536"})
    result = run([{"name": "nf_conntrack", "params": {"hashsize": 262144}}])
    assert result["reload_required"] == ["nf_conntrack"]
    assert result["modules"][0]["params_current"] == {"hashsize": "65536"}
    assert [verb for verb in kernel.verbs() if not verb.startswith("modinfo")] == []
    assert result["changed"] is True and result["changed_modules"] == []  # only the files changed
    assert warnings == ["loaded with other parameters than declared: nf_conntrack; they apply after a reboot, or "
                        "now with reload=true"]


def test_reload_true_reloads_with_the_declared_params(kernel, run):
    kernel.insert("nf_conntrack", {"hashsize": "65536"})
    result = run([{"name": "nf_conntrack", "params": {"hashsize": 262144}}], reload=True)
    assert kernel.verbs() == ["modinfo nf_conntrack", "remove nf_conntrack", "load nf_conntrack hashsize=262144"]
    assert result["modules"][0]["action"] == "reload" and result["reload_required"] == []
    assert (kernel.sys("nf_conntrack") / "parameters" / "hashsize").read_text() == "262144\n"


def test_reload_of_a_module_in_use_fails_before_changes(kernel, run):
    kernel.insert("br_netfilter")
    kernel.write("/sys/module/bridge/parameters/x", "1\n")
    AVAILABLE["bridge"]["params"] = {"x": ("1", "int")}
    try:
        result = run([{"name": "bridge", "params": {"x": 2}}], reload=True, fail=True)
    finally:
        AVAILABLE["bridge"].pop("params")
    assert result["msg"].startswith("cannot load or unload here (nothing was changed")
    assert "modules[0] (bridge): in use (used by br_netfilter): stop what uses it first" in result["msg"]
    assert kernel.file(OPTIONS_FILE) is None


def test_builtin_module_is_loaded_and_its_params_are_reported(kernel, run, warnings):
    result = run([{"name": "ext4"}, {"name": "printk", "params": {"time": 0}}])
    assert kernel.calls == []
    assert result["loaded"] == ["ext4", "printk"]
    assert [entry["builtin"] for entry in result["modules"]] == [True, True]
    assert result["skipped_modules"] == {"printk": "built into the kernel: its parameters are set on the kernel command line "
                                         "(printk.time=0)"}
    assert warnings[0].startswith("not loaded or unloaded: printk (built into the kernel")


def test_unknown_module_fails_before_any_change(kernel, run):
    result = run([{"name": "overlay"}, {"name": "nosuchmod"}], fail=True)
    assert result["msg"] == ("cannot load or unload here (nothing was changed; unavailable=report would report "
                             f"these instead of failing): modules[1] (nosuchmod): not available for kernel {RELEASE}: modprobe: FATAL: Module "
                             f"nosuchmod not found in directory /lib/modules/{RELEASE}")
    assert kernel.file(LOAD_FILE) is None and not kernel.sys("overlay").exists()


def test_unavailable_report_skips_with_reason_and_writes_files(kernel, run, warnings):
    result = run([{"name": "overlay"}, {"name": "nosuchmod"}], unavailable="report")
    assert result["skipped_modules"] == {"nosuchmod": f"not available for kernel {RELEASE}: modprobe: FATAL: Module "
                                         f"nosuchmod not found in directory /lib/modules/{RELEASE}"}
    assert result["loaded"] == ["overlay"] and result["changed_modules"] == ["overlay"]
    assert kernel.file(LOAD_FILE) == HEADER + "overlay\nnosuchmod\n"
    assert warnings[0].startswith("not loaded or unloaded: nosuchmod (")


def test_container_skips_loading_with_reason_and_writes_files(kernel, run, warnings):
    kernel.write("/run/.containerenv", "")
    kernel.insert("overlay")
    result = run([{"name": "overlay"}, {"name": "br_netfilter"}])
    assert result["container"] == "podman"
    assert result["loaded"] == ["overlay"]
    assert result["skipped_modules"] == {"br_netfilter": "a container (podman) shares the host's kernel: load the module on "
                                         "the host (or use in_container=apply)"}
    assert not any(verb.startswith("load") for verb in kernel.verbs())
    assert kernel.file(LOAD_FILE) == HEADER + "overlay\nbr_netfilter\n"
    assert run([{"name": "overlay"}, {"name": "br_netfilter"}])["changed"] is False


def test_container_without_lib_modules_names_the_reason(kernel, run):
    kernel.write("/run/systemd/container", "podman\n")
    shutil.rmtree(kernel.root / "lib" / "modules")
    result = run([{"name": "br_netfilter"}], in_container="apply", unavailable="report")
    assert result["skipped_modules"] == {"br_netfilter": f"no /lib/modules/{RELEASE}: a container (podman) cannot load "
                                         "modules (they come with the host's kernel)"}
    assert kernel.calls == []


def test_missing_capability_fails(kernel, run):
    kernel.write("/proc/self/status", "CapEff:\t00000000a80425fb\n")
    result = run([{"name": "overlay"}], fail=True)
    assert "modules[0] (overlay): this process lacks CAP_SYS_MODULE (run as root: become: true)" in result["msg"]


def test_modules_disabled_fails(kernel, run):
    kernel.write("/proc/sys/kernel/modules_disabled", "1\n")
    result = run([{"name": "overlay"}], fail=True)
    assert "module loading is disabled (kernel.modules_disabled=1)" in result["msg"]


def test_modprobe_missing_is_a_reason(kernel, run, monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    result = run([{"name": "overlay"}], unavailable="report")
    assert result["skipped_modules"] == {"overlay": "modprobe is not installed (package kmod)"}


def test_absent_unloads_and_drops_from_files(kernel, run):
    run([{"name": "overlay"}, {"name": "dummy", "params": {"numdummies": 2}}])
    kernel.calls.clear()
    result = run([{"name": "overlay"}, {"name": "dummy", "state": "absent", "params": {"numdummies": 2}}], diff=True)
    assert kernel.verbs() == ["remove dummy"]
    assert result["modules"][1]["action"] == "unload" and result["modules"][1]["loaded"] is False
    assert not kernel.sys("dummy").exists()
    assert kernel.file(OPTIONS_FILE) is None
    assert kernel.file(LOAD_FILE) == HEADER + "overlay\n"
    assert result["diff"][-1]["after"] == "dummy: not loaded\n"
    assert run([{"name": "overlay"}, {"name": "dummy", "state": "absent"}])["changed"] is False


def test_all_absent_removes_both_files(kernel, run):
    run([{"name": "overlay"}, {"name": "nf_conntrack", "params": {"hashsize": 1024}}])
    result = run([{"name": "overlay", "state": "absent"}, {"name": "nf_conntrack", "state": "absent"}])
    assert sorted(result["files_changed"]) == ["/etc/modprobe.d/containerhost.conf",
                                               "/etc/modules-load.d/containerhost.conf"]
    assert kernel.file(LOAD_FILE) is None and kernel.file(OPTIONS_FILE) is None


def test_absent_in_use_or_builtin_fails(kernel, run):
    kernel.insert("br_netfilter")
    result = run([{"name": "bridge", "state": "absent"}, {"name": "ext4", "state": "absent"}], fail=True)
    assert "modules[0] (bridge): in use (used by br_netfilter)" in result["msg"]
    assert "modules[1] (ext4): built into the kernel: it cannot be unloaded" in result["msg"]
    assert kernel.sys("bridge").exists()


def test_alias_loaded_under_its_module_name_counts_as_loaded(kernel, run):
    kernel.insert("crc32c_generic")
    result = run([{"name": "crc32c"}])
    assert kernel.verbs() == ["resolve crc32c"]
    assert result["modules"][0]["loaded"] is True and result["modules"][0]["resolved"] == ["crc32c_generic"]
    assert result["changed_modules"] == []


def test_alias_is_loaded_and_verified(kernel, run):
    result = run([{"name": "crc32c"}])
    assert kernel.verbs() == ["resolve crc32c", "load crc32c"]
    assert result["loaded"] == ["crc32c"]


def test_unknown_or_mistyped_parameter_fails_before_changes(kernel, run):
    result = run([{"name": "nf_conntrack", "params": {"hashsiz": 1, "hashsize": "big"}}], fail=True)
    assert result["msg"] == ("modules[0] (nf_conntrack): params.hashsiz: the module has no such parameter (did you "
                             "mean hashsize? it has: hashsize); modules[0] (nf_conntrack): params.hashsize: 'big' is not a number (uint)")
    assert kernel.file(OPTIONS_FILE) is None and not kernel.sys("nf_conntrack").exists()


def test_parameter_modinfo_does_not_list_is_loaded_with_a_warning(kernel, run, warnings):
    result = run([{"name": "nf_conntrack", "params": {"expect_hashsize": 2048}}])
    assert kernel.verbs()[-1] == "load nf_conntrack expect_hashsize=2048"
    assert result["modules"][0]["params_current"] == {"expect_hashsize": "2048"}
    assert warnings == ["modules[0] (nf_conntrack): params.expect_hashsize: not listed by modinfo (declared without a "
                        "type, as nf_conntrack's hashsize is); the kernel checks it when the module loads"]


def test_params_not_kept_by_the_kernel_fail_after_loading(kernel, run):
    kernel.ignore_params.add("nf_conntrack")
    result = run([{"name": "nf_conntrack", "params": {"hashsize": 1024}}], fail=True)
    assert "modules[0] (nf_conntrack): loaded, but not with the declared parameters (hashsize: wanted '1024', the " \
           "kernel shows '65536')" in result["msg"]


def test_modprobe_failure_fails_or_reports(kernel, run):
    kernel.fail_load["overlay"] = "modprobe: ERROR: could not insert 'overlay': Operation not permitted\n"
    result = run([{"name": "overlay"}], fail=True)
    assert result["msg"] == ("modules[0] (overlay): modprobe failed: modprobe: ERROR: could not insert 'overlay': "
                             "Operation not permitted")
    assert result["rc"] == 1 and result["cmd"] == [MODPROBE, "overlay"]
    reported = run([{"name": "overlay"}], unavailable="report")
    assert reported["skipped_modules"]["overlay"].startswith("modprobe failed: modprobe: ERROR")


@pytest.mark.parametrize(
    ("modules", "params", "fragment"),
    [
        ([{"name": "br netfilter"}], {}, "modules[0] (br netfilter): name: 'br netfilter' is not accepted; a name is "
                                         "made of letters, digits, _ and -"),
        ([{"name": "../evil"}], {}, "modules[0] (../evil): name: '../evil' is not accepted"),
        ([{"name": "dummy", "params": {"num dummies": 1}}], {}, "modules[0] (dummy): params.num dummies: "),
        ([{"name": "dummy", "params": {"numdummies": "1 2"}}], {},
         "modules[0] (dummy): params.numdummies: '1 2' is not accepted"),
        ([{"name": "dummy", "colour": "red"}], {}, "modules[0] (dummy): unsupported option"),
        ([{"name": "dummy", "state": "gone"}], {}, "modules[0] (dummy): value of state must be one of: present, absent"),
        ([{"name": "br-netfilter"}, {"name": "br_netfilter"}], {}, "modules[1] (br_netfilter): name: the same module "
                                                                   "as modules[0] (br-netfilter)"),
        ([{"name": "dummy"}], {"file_prefix": "../x"}, "file_prefix: '../x' is not accepted"),
    ],
)
def test_bad_input_fails_naming_the_field(kernel, run, modules, params, fragment):
    result = run(modules, fail=True, **params)
    assert fragment in result["msg"]
    assert kernel.calls == [] and kernel.file(LOAD_FILE) is None


def test_foreign_install_line_warns(kernel, run, warnings):
    kernel.write("/etc/modprobe.d/blacklist-local.conf", "install dummy /bin/false\n")
    run([{"name": "overlay"}, {"name": "dummy"}], check=True)
    assert warnings == ["dummy: other modprobe.d files may undo the declared state: "
                        "/etc/modprobe.d/blacklist-local.conf: 'install dummy /bin/false' refuses to load it"]


def test_other_prefix_and_wrong_mode(kernel, run):
    run([{"name": "overlay"}], file_prefix="k8s")
    path = kernel.root / "etc" / "modules-load.d" / "k8s.conf"
    assert path.read_text() == HEADER + "overlay\n"
    path.chmod(0o600)
    result = run([{"name": "overlay"}], file_prefix="k8s")
    assert result["files_changed"] == ["/etc/modules-load.d/k8s.conf"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
