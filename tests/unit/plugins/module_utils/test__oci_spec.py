# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the OCI runtime configuration of system containers."""

from __future__ import annotations

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _oci_spec as spec

PASSWD = "root:x:0:0:root:/root:/bin/sh\netcd:x:998:997:etcd:/var/lib/etcd:/bin/false\n"
GROUP = "root:x:0:\nadm:x:4:\netcd:x:997:\n"
IMAGE_CONFIG = {"Entrypoint": ["/usr/bin/etcd"], "Cmd": ["--logger=zap"],
                "Env": ["PATH=/usr/bin:/bin", "ETCD_NAME=default"], "WorkingDir": "/var/lib/etcd"}
VALUES = {"NAME": "etcd", "DESTDIR": "/srv/etcd/deployments/abc-1", "ETCD_NAME": "h1"}


def process(config=None):
    return spec.image_process(config if config is not None else IMAGE_CONFIG, PASSWD, GROUP)


def render(**kwargs):
    options = {"name": "etcd", "process": process(), "template": None, "values": VALUES}
    options.update(kwargs)
    return spec.render_config(**options)


# ---- values

@pytest.mark.parametrize("text, expected", [
    ("--name=$ETCD_NAME", "--name=h1"),
    ("${NAME}-data", "etcd-data"),
    ("cost: $$5", "cost: $5"),
    ("$DESTDIR/rootfs", "/srv/etcd/deployments/abc-1/rootfs"),
    ("plain", "plain"),
])
def test_substitute(text, expected):
    assert spec.substitute(text, VALUES, "command[0]") == expected


def test_substitute_names_the_field_and_the_missing_value():
    with pytest.raises(spec.SpecError, match=r"env\.A: '\$PEER' uses \$PEER, which is not among the values "
                                             r"\(DESTDIR, ETCD_NAME, NAME\); give it in values, or write \$\$"):
        spec.substitute("$PEER", VALUES, "env.A")


def test_substitute_refuses_a_lone_dollar():
    with pytest.raises(spec.SpecError, match=r"command\[1\]: 'a \$ b'.*\$\$ is a literal \$"):
        spec.substitute("a $ b", VALUES, "command[1]")


def test_substitute_tree_fills_keys_and_nested_lists_and_names_the_path():
    tree = {"process": {"args": ["x", "$NAME"], "env": ["N=${ETCD_NAME}"]}, "annotations": {"k.$NAME": "v"},
            "n": 3}
    assert spec.substitute_tree(tree, VALUES, "t") == {
        "process": {"args": ["x", "etcd"], "env": ["N=h1"]}, "annotations": {"k.etcd": "v"}, "n": 3}
    with pytest.raises(spec.SpecError, match=r"^t\.process\.args\[1\]: "):
        spec.substitute_tree({"process": {"args": ["x", "$MISSING"]}}, VALUES, "t")


def test_validate_values_converts_scalars_and_refuses_bad_names_and_types():
    converted = spec.validate_values({"A": 1, "B": True, "C": "x", "D": 1.5})
    assert converted == {"A": "1", "B": "true", "C": "x", "D": "1.5"}
    assert spec.validate_values(None) == {}
    with pytest.raises(spec.SpecError, match=r"values: '1A' is not a value name"):
        spec.validate_values({"1A": "x"})
    with pytest.raises(spec.SpecError, match=r"values\.A: expected text, a number or a boolean, got list"):
        spec.validate_values({"A": [1]})
    with pytest.raises(spec.SpecError, match="expected a dictionary"):
        spec.validate_values(["A"])


def test_effective_values_builtins_then_image_defaults_then_user_values():
    manifest = {"version": "1.0", "defaultValues": {"ETCD_NAME": "default", "PORT": 2379, "NAME": "image"}}
    values = spec.effective_values("etcd", "/d/x-1", manifest, {"ETCD_NAME": "h1"})
    assert values["ETCD_NAME"] == "h1"
    assert values["PORT"] == "2379"
    # Built-ins win over the image's defaults; the user's values win over both.
    assert values["NAME"] == "etcd"
    assert spec.effective_values("etcd", "/d", manifest, {"NAME": "mine"})["NAME"] == "mine"
    assert values["DESTDIR"] == "/d/x-1" and values["STATE_DIRECTORY"] == "/var/lib"
    assert spec.effective_values("etcd", "/d", None, {})["NAME"] == "etcd"
    with pytest.raises(spec.SpecError, match="manifest.json is not a JSON object"):
        spec.manifest_defaults(["x"])


# ---- the image's process

@pytest.mark.parametrize("user, expected", [
    ("", {"uid": 0, "gid": 0}),
    (None, {"uid": 0, "gid": 0}),
    ("998", {"uid": 998, "gid": 997}),
    ("1234", {"uid": 1234, "gid": 0}),
    ("1234:55", {"uid": 1234, "gid": 55}),
    ("etcd", {"uid": 998, "gid": 997}),
    ("etcd:adm", {"uid": 998, "gid": 4}),
])
def test_resolve_user(user, expected):
    assert spec.resolve_user(user, PASSWD, GROUP) == expected


@pytest.mark.parametrize("user, message", [
    ("nobody", "nobody is not in the image's /etc/passwd"),
    ("etcd:wheel", "group wheel is not in the image's /etc/group"),
])
def test_resolve_user_refuses_unknown_names(user, message):
    with pytest.raises(spec.SpecError, match=message):
        spec.resolve_user(user, PASSWD, GROUP)


def test_image_process_joins_entrypoint_and_cmd_and_keeps_env():
    found = process()
    assert found == {"args": ["/usr/bin/etcd", "--logger=zap"], "env": ["PATH=/usr/bin:/bin", "ETCD_NAME=default"],
                     "cwd": "/var/lib/etcd", "user": {"uid": 0, "gid": 0}}


def test_image_process_adds_a_path_and_defaults_cwd():
    found = spec.image_process({"Cmd": ["/bin/sh"]})
    assert found["env"] == [spec.DEFAULT_PATH]
    assert found["cwd"] == "/"


# ---- rendering

def test_default_config_is_read_only_with_host_network_and_runc_defaults():
    config = render(cgroups_path="/infra.slice/etcd.service/container", digest="sha256:" + "a" * 64,
                    mcs_label="s0:c1,c2")
    assert config["ociVersion"] == "1.0.2"
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert config["process"]["args"] == ["/usr/bin/etcd", "--logger=zap"]
    assert config["process"]["terminal"] is False and config["process"]["noNewPrivileges"] is True
    assert config["process"]["capabilities"]["bounding"] == list(spec.DEFAULT_CAPABILITIES)
    assert [n["type"] for n in config["linux"]["namespaces"]] == ["pid", "ipc", "uts", "mount"]
    assert config["linux"]["cgroupsPath"] == "/infra.slice/etcd.service/container"
    assert config["linux"]["maskedPaths"] == list(spec.MASKED_PATHS)
    assert config["linux"]["readonlyPaths"] == list(spec.READONLY_PATHS)
    destinations = [m["destination"] for m in config["mounts"]]
    assert destinations == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/run", "/tmp"]
    # No cgroup filesystem: runc fails to mount it where systemd itself runs in a container.
    assert all(m["type"] != "cgroup" for m in config["mounts"])
    assert config["annotations"] == {"io.containerhost.system-container.name": "etcd",
                                     "io.containerhost.system-container.digest": "sha256:" + "a" * 64,
                                     "io.containerhost.system-container.mcs-label": "s0:c1,c2"}
    # SELinux disabled: runc and crun refuse process labels, so the label is only annotated.
    assert "selinuxLabel" not in config["process"] and "mountLabel" not in config["linux"]
    assert "hostname" not in config


def test_selinux_enabled_sets_process_and_mount_labels():
    config = render(mcs_label="s0:c7,c300", selinux_enabled=True)
    assert config["process"]["selinuxLabel"] == "system_u:system_r:container_t:s0:c7,c300"
    assert config["linux"]["mountLabel"] == "system_u:object_r:container_file_t:s0:c7,c300"
    assert spec.config_label(config) == "s0:c7,c300"


def test_network_none_adds_a_network_namespace_and_hostname_is_set():
    config = render(network="none", hostname="etcd-1")
    assert {"type": "network"} in config["linux"]["namespaces"]
    assert config["hostname"] == "etcd-1"
    with pytest.raises(spec.SpecError, match="network: 'bridge' is not valid; accepted: host, none"):
        render(network="bridge")


def test_options_command_env_and_binds_with_values():
    config = render(command=["/usr/bin/etcd", "--name", "$ETCD_NAME"], env={"ETCD_NAME": "$ETCD_NAME", "X": "1"},
                    ro_binds={"/etc/pki/$NAME": "/etc/pki"}, rw_binds={"/var/lib/$NAME": "/var/lib/etcd"})
    assert config["process"]["args"] == ["/usr/bin/etcd", "--name", "h1"]
    assert config["process"]["env"] == ["PATH=/usr/bin:/bin", "ETCD_NAME=h1", "X=1"]
    binds = [m for m in config["mounts"] if m["type"] == "bind"]
    assert binds == [
        {"destination": "/etc/pki", "type": "bind", "source": "/etc/pki/etcd", "options": ["rbind", "rprivate", "ro"]},
        {"destination": "/var/lib/etcd", "type": "bind", "source": "/var/lib/etcd",
         "options": ["rbind", "rprivate", "rw"]},
    ]


def test_a_bind_on_tmp_replaces_the_tmpfs():
    config = render(rw_binds={"/srv/tmp": "/tmp"})
    tmp = [m for m in config["mounts"] if m["destination"] == "/tmp"]
    assert tmp == [spec.bind_mount("/srv/tmp", "/tmp", False)]


TEMPLATE = {
    "process": {"args": ["/usr/bin/etcd"], "env": ["ETCD_NAME=$ETCD_NAME", "ETCD_DATA_DIR=/var/lib/etcd"],
                "cwd": "/"},
    "mounts": [{"destination": "/run", "type": "bind", "source": "$RUN_DIRECTORY/$NAME", "options": ["rbind"]}],
    "root": {"path": "elsewhere", "readonly": False},
    "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]},
    "annotations": {"io.example.variant": "v2"},
}


def test_template_is_rendered_with_values_and_laid_over_the_image():
    values = {**VALUES, "RUN_DIRECTORY": "/run"}
    config = render(template=TEMPLATE, values=values)
    assert config["process"]["args"] == ["/usr/bin/etcd"]
    # env merges by name: the image's PATH stays, the template's ETCD_NAME wins.
    assert config["process"]["env"] == ["PATH=/usr/bin:/bin", "ETCD_NAME=h1", "ETCD_DATA_DIR=/var/lib/etcd"]
    assert config["process"]["cwd"] == "/"
    run = [m for m in config["mounts"] if m["destination"] == "/run"]
    assert run == [{"destination": "/run", "type": "bind", "source": "/run/etcd", "options": ["rbind"]}]
    # The options decide the root and the network whatever the template says.
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert [n["type"] for n in config["linux"]["namespaces"]] == ["pid"]
    assert config["annotations"]["io.example.variant"] == "v2"
    assert config["annotations"]["io.containerhost.system-container.name"] == "etcd"


def test_template_with_a_value_nobody_gave_fails_naming_the_path():
    with pytest.raises(spec.SpecError, match=r"^/exports/config\.json\.template\.process\.env\[0\]: .*\$ETCD_NAME"):
        render(template=TEMPLATE, values={"NAME": "etcd"})


def test_command_overrides_the_template():
    config = render(template=TEMPLATE, values={**VALUES, "RUN_DIRECTORY": "/run"}, command=["/bin/sh"])
    assert config["process"]["args"] == ["/bin/sh"]


def test_no_command_anywhere_is_refused():
    with pytest.raises(spec.SpecError, match="command: the image has no Entrypoint or Cmd"):
        render(process=spec.image_process({}))


def test_template_must_be_an_object_and_mounts_need_destinations():
    with pytest.raises(spec.SpecError, match="template is not a JSON object"):
        render(template=["x"])
    with pytest.raises(spec.SpecError, match="is not a mount"):
        render(template={"mounts": [{"source": "/x"}]})


@pytest.mark.parametrize("binds, message", [
    ({"relative": "/x"}, "the host path 'relative' is not valid"),
    ({"/x": "y"}, "the container path 'y' is not valid"),
    ({"/a/../etc": "/x"}, "the host path '/a/../etc' is not valid"),
    (["/x"], "expected a dictionary"),
])
def test_validate_binds_refuses_relative_and_dotdot_paths(binds, message):
    with pytest.raises(spec.SpecError, match=message):
        spec.validate_binds(binds, "rw_binds")


def test_validate_env_and_hostname():
    assert spec.validate_env({"A_1": 5, "B": False}) == {"A_1": "5", "B": "false"}
    with pytest.raises(spec.SpecError, match="env: 'A-B' is not a variable name"):
        spec.validate_env({"A-B": "x"})
    assert spec.validate_hostname("etcd-1.example") == "etcd-1.example"
    assert spec.validate_hostname(None) is None
    with pytest.raises(spec.SpecError, match="hostname: 'bad_name' is not a host name"):
        spec.validate_hostname("bad_name")


def test_config_label_reads_the_annotation_or_the_process_label():
    assert spec.config_label({"annotations": {"io.containerhost.system-container.mcs-label": "s0:c1,c2"}}) == "s0:c1,c2"
    assert spec.config_label({"process": {"selinuxLabel": "system_u:system_r:container_t:s0:c3,c4"}}) == "s0:c3,c4"
    assert spec.config_label({}) is None
