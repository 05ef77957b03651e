# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""OCI runtime configurations (``config.json``) for system containers, rendered from an image and options.

The base is what ``runc spec`` writes (namespaces, the standard mounts, masked and read-only paths), with the process
taken from the image's configuration, or from the image's ``/exports/config.json.template`` when it carries one
(atomic's convention for system containers). Values fill ``$NAME``/``${NAME}`` in the template and in the options,
as ``atomic install --system --set NAME=VALUE`` did. Pure: callers read files and pass their text.
"""

from __future__ import annotations

import copy
import re
import string
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

OCI_VERSION = "1.0.2"
# Where atomic's system container images keep their template and its default values.
TEMPLATE_PATH = "exports/config.json.template"
MANIFEST_PATH = "exports/manifest.json"
ANNOTATION_PREFIX = "io.containerhost.system-container."
# The capabilities podman gives a container by default (containers.conf), so both backends grant the same.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP",
    "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
)
# runc spec's defaults: kernel interfaces a container must not read or change.
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
NETWORKS = ("host", "none")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VALUE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                          r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class SpecError(ValueError):
    """A value that cannot go into the runtime config; the message names the field and what is accepted."""


# ---------------------------------------------------------------------------------------------------------------------
# values

def substitute(text: str, values: Mapping[str, str], where: str) -> str:
    """Fill ``$NAME`` and ``${NAME}`` from values (``$$`` is a literal ``$``); SpecError for an unknown name."""
    try:
        return string.Template(text).substitute(values)
    except KeyError as exc:
        name = exc.args[0]
        raise SpecError(f"{where}: {text!r} uses ${name}, which is not among the values "
                        f"({', '.join(sorted(values)) or 'none'}); give it in values, or write $$ for a literal $") \
            from None
    except ValueError as exc:
        raise SpecError(f"{where}: {text!r}: {exc}; a $ starts a value name ($NAME or ${{NAME}}), $$ is a literal $") \
            from None


def substitute_tree(data: t.Any, values: Mapping[str, str], where: str) -> t.Any:
    """Fill values into every string of a JSON-like tree (keys included), naming the path of a bad one."""
    if isinstance(data, str):
        return substitute(data, values, where)
    if isinstance(data, list):
        return [substitute_tree(entry, values, f"{where}[{index}]") for index, entry in enumerate(data)]
    if isinstance(data, dict):
        return {substitute(str(key), values, f"{where}.{key}"): substitute_tree(value, values, f"{where}.{key}")
                for key, value in data.items()}
    return data


def validate_values(values: t.Any, where: str = "values") -> dict[str, str]:
    """Values as ``{NAME: text}``: names are identifiers; numbers and booleans become text, others are refused."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise SpecError(f"{where}: expected a dictionary of NAME: value, got {type(values).__name__}")
    checked = {}
    for name, value in values.items():
        if not isinstance(name, str) or not _VALUE_NAME_RE.match(name):
            raise SpecError(f"{where}: {name!r} is not a value name: expected letters, digits and _ (not first a "
                            "digit), as in $NAME")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            raise SpecError(f"{where}.{name}: expected text, a number or a boolean, got {type(value).__name__}")
        checked[name] = value
    return checked


def manifest_defaults(manifest: t.Any) -> dict[str, str]:
    """``defaultValues`` of an image's /exports/manifest.json (parsed JSON); SpecError when malformed."""
    if manifest is None:
        return {}
    if not isinstance(manifest, dict):
        raise SpecError(f"the image's /{MANIFEST_PATH} is not a JSON object")
    return validate_values(manifest.get("defaultValues") or {}, f"the image's /{MANIFEST_PATH}: defaultValues")


def builtin_values(name: str, deployment_dir: str) -> dict[str, str]:
    """The values atomic always provided (the ones that make sense without atomic itself)."""
    return {"NAME": name, "DESTDIR": deployment_dir, "RUN_DIRECTORY": "/run", "STATE_DIRECTORY": "/var/lib",
            "CONF_DIRECTORY": "/etc"}


def option_values(name: str, deployment_dir: str, values: Mapping[str, str]) -> dict[str, str]:
    """The values the module's own options see: the built-ins and the user's values (not the image's defaults, so
    that every option can be checked before the image is unpacked)."""
    return {**builtin_values(name, deployment_dir), **values}


def effective_values(name: str, deployment_dir: str, manifest: t.Any, values: Mapping[str, str]) -> dict[str, str]:
    """The image's defaults, then the built-in values (an image cannot redefine NAME or DESTDIR), then the user's
    values (each overriding the one before)."""
    return {**manifest_defaults(manifest), **builtin_values(name, deployment_dir), **values}


# ---------------------------------------------------------------------------------------------------------------------
# the image's process

def env_list_to_dict(entries: Sequence[str]) -> dict[str, str]:
    """``["A=1", "B=2"]`` -> ``{"A": "1", "B": "2"}``; a later entry wins, entries without ``=`` are dropped."""
    result: dict[str, str] = {}
    for entry in entries or ():
        name, sep, value = str(entry).partition("=")
        if sep and name:
            result[name] = value
    return result


def env_dict_to_list(env: Mapping[str, str]) -> list[str]:
    """``{"A": "1"}`` -> ``["A=1"]``, in insertion order."""
    return [f"{name}={value}" for name, value in env.items()]


def _passwd_entry(text: str, name: str) -> list[str] | None:
    """The fields of a user's line in /etc/passwd text."""
    for line in (text or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == name:
            return fields
    return None


def _group_gid(text: str, name: str) -> int | None:
    """A group's GID from /etc/group text."""
    for line in (text or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


def resolve_user(user: str | None, passwd_text: str = "", group_text: str = "") -> dict[str, int]:
    """The OCI ``process.user`` for an image's ``User`` (``name``, ``uid``, ``uid:gid``, ``name:group``).

    Names are looked up in the image's own /etc/passwd and /etc/group; a name it lacks is a SpecError.
    """
    user = (user or "").strip()
    if not user:
        return {"uid": 0, "gid": 0}
    name, _sep, group = user.partition(":")
    gid: int | None = None
    if name.isdigit():
        uid = int(name)
        entry = None
        for line in (passwd_text or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[2] == name and fields[3].isdigit():
                entry = fields
                break
        gid = int(entry[3]) if entry else 0
    else:
        entry = _passwd_entry(passwd_text, name)
        if entry is None or not entry[2].isdigit() or not entry[3].isdigit():
            raise SpecError(f"image user {user!r}: {name} is not in the image's /etc/passwd; use a numeric uid")
        uid, gid = int(entry[2]), int(entry[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = _group_gid(group_text, group)
            if found is None:
                raise SpecError(f"image user {user!r}: group {group} is not in the image's /etc/group; use a "
                                "numeric gid")
            gid = found
    return {"uid": uid, "gid": gid or 0}


def image_process(image_config: Mapping[str, t.Any], passwd_text: str = "", group_text: str = "") -> dict[str, t.Any]:
    """args, env, cwd and user from an image configuration's ``config`` object (Entrypoint + Cmd, Env, ...)."""
    args = list(image_config.get("Entrypoint") or []) + list(image_config.get("Cmd") or [])
    env = list(image_config.get("Env") or [])
    if not any(entry.startswith("PATH=") for entry in env):
        env.insert(0, DEFAULT_PATH)
    return {
        "args": args,
        "env": env,
        "cwd": image_config.get("WorkingDir") or "/",
        "user": resolve_user(image_config.get("User"), passwd_text, group_text),
    }


# ---------------------------------------------------------------------------------------------------------------------
# the configuration

def default_mounts() -> list[dict[str, t.Any]]:
    """runc spec's mounts without the cgroup filesystem, plus tmpfs on /run and /tmp (the root is read-only)."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=755"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
    ]


def bind_mount(source: str, destination: str, read_only: bool) -> dict[str, t.Any]:
    """A bind mount entry (recursive, private propagation)."""
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "ro" if read_only else "rw"]}


def namespaces(network: str) -> list[dict[str, str]]:
    """pid, ipc, uts and mount namespaces, and a network namespace (loopback only) unless the host's is used."""
    found = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    if network != "host":
        found.append({"type": "network"})
    return found


def base_config(process: Mapping[str, t.Any], network: str) -> dict[str, t.Any]:
    """The configuration before template and options: runc spec's defaults with the image's process."""
    capabilities = list(DEFAULT_CAPABILITIES)
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": dict(process["user"]),
            "args": list(process["args"]),
            "env": list(process["env"]),
            "cwd": process["cwd"],
            "capabilities": {"bounding": capabilities, "effective": list(capabilities),
                             "permitted": list(capabilities)},
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "mounts": default_mounts(),
        "linux": {
            "namespaces": namespaces(network),
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }


def merge_template(base: Mapping[str, t.Any], template: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The template laid over the base: objects merge key by key, lists and scalars replace; process.env merges
    by variable name, and mounts merge by destination (the template's win)."""
    merged = copy.deepcopy(dict(base))
    for key, value in template.items():
        if key == "process" and isinstance(value, dict) and isinstance(merged.get("process"), dict):
            process = merged["process"]
            for pkey, pvalue in value.items():
                if pkey == "env" and isinstance(pvalue, list):
                    env = env_list_to_dict(process.get("env") or [])
                    env.update(env_list_to_dict(pvalue))
                    process["env"] = env_dict_to_list(env)
                elif isinstance(pvalue, dict) and isinstance(process.get(pkey), dict):
                    process[pkey] = {**process[pkey], **copy.deepcopy(pvalue)}
                else:
                    process[pkey] = copy.deepcopy(pvalue)
        elif key == "mounts" and isinstance(value, list):
            merged["mounts"] = _merge_mounts(merged.get("mounts") or [], value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_mounts(current: Sequence[Mapping[str, t.Any]], extra: Sequence[t.Any]) -> list[dict[str, t.Any]]:
    """Mounts with ``extra`` added; an extra mount replaces one with the same destination, in its place."""
    result = [dict(mount) for mount in current]
    for mount in extra:
        if not isinstance(mount, dict) or not isinstance(mount.get("destination"), str):
            raise SpecError(f"mounts: {mount!r} is not a mount: expected an object with a destination")
        mount = copy.deepcopy(mount)
        for index, existing in enumerate(result):
            if existing.get("destination") == mount["destination"]:
                result[index] = mount
                break
        else:
            result.append(mount)
    return result


def validate_binds(binds: t.Any, field: str) -> dict[str, str]:
    """``{host path: container path}``, both absolute, each container path once, no ``..``."""
    if binds is None:
        return {}
    if not isinstance(binds, dict):
        raise SpecError(f"{field}: expected a dictionary of host path: container path")
    checked: dict[str, str] = {}
    for source, destination in binds.items():
        for what, path in (("host path", source), ("container path", destination)):
            if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/") or "\n" in path:
                raise SpecError(f"{field}: {source!r}: {destination!r}: the {what} {path!r} is not valid; accepted: an "
                                "absolute path without '..'")
        checked[source] = destination
    return checked


def validate_env(env: t.Any, field: str = "env") -> dict[str, str]:
    """``{NAME: value}`` with names a shell would accept; numbers and booleans become text."""
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise SpecError(f"{field}: expected a dictionary of NAME: value")
    checked = {}
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
            raise SpecError(f"{field}: {name!r} is not a variable name: expected letters, digits and _ (not first a "
                            "digit)")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            raise SpecError(f"{field}.{name}: expected text, a number or a boolean, got {type(value).__name__}")
        checked[name] = value
    return checked


def validate_hostname(hostname: t.Any) -> str | None:
    """A host name (RFC 1123 labels) or None."""
    if hostname is None:
        return None
    if not isinstance(hostname, str) or not _HOSTNAME_RE.match(hostname):
        raise SpecError(f"hostname: {hostname!r} is not a host name: expected letters, digits, - and . (labels of at "
                        "most 63 characters)")
    return hostname


def selinux_contexts(level: str) -> tuple[str, str]:
    """The process and mount contexts of a container at an MCS level (container-selinux's types)."""
    return f"system_u:system_r:container_t:{level}", f"system_u:object_r:container_file_t:{level}"


def render_config(*, name: str, process: Mapping[str, t.Any], template: Mapping[str, t.Any] | None,
                  values: Mapping[str, str], option_values: Mapping[str, str] | None = None,
                  command: Sequence[str] | None = None,
                  env: Mapping[str, str] | None = None, ro_binds: Mapping[str, str] | None = None,
                  rw_binds: Mapping[str, str] | None = None, network: str = "host", hostname: str | None = None,
                  mcs_label: str | None = None, selinux_enabled: bool = False, cgroups_path: str | None = None,
                  digest: str | None = None) -> dict[str, t.Any]:
    """The complete ``config.json`` of a system container.

    Order: runc spec's defaults with the image's process, then the image's template (``values`` filled in), then
    the options (``option_values`` filled in, ``values`` when not given): command, env, binds, network, hostname.
    The root is always read-only. The MCS label
    is always recorded in the annotations; ``process.selinuxLabel`` and ``linux.mountLabel`` are set only where
    SELinux is enabled, because runc and crun refuse to start a container with them on a host without SELinux.
    """
    if network not in NETWORKS:
        raise SpecError(f"network: {network!r} is not valid; accepted: {', '.join(NETWORKS)}")
    config = base_config(process, network)
    if template is not None:
        if not isinstance(template, dict):
            raise SpecError(f"the image's /{TEMPLATE_PATH} is not a JSON object")
        config = merge_template(config, substitute_tree(template, values, f"/{TEMPLATE_PATH}"))
    proc = config.setdefault("process", {})
    values = values if option_values is None else option_values
    if command:
        proc["args"] = [substitute(arg, values, f"command[{index}]") for index, arg in enumerate(command)]
    if not proc.get("args"):
        raise SpecError("command: the image has no Entrypoint or Cmd (and no template process): give command")
    if env:
        merged = env_list_to_dict(proc.get("env") or [])
        merged.update({key: substitute(value, values, f"env.{key}") for key, value in env.items()})
        proc["env"] = env_dict_to_list(merged)
    extra = [bind_mount(substitute(source, values, f"ro_binds.{source}"), destination, True)
             for source, destination in (ro_binds or {}).items()]
    extra += [bind_mount(substitute(source, values, f"rw_binds.{source}"), destination, False)
              for source, destination in (rw_binds or {}).items()]
    config["mounts"] = _merge_mounts(config.get("mounts") or [], extra)
    # The options decide the network and the root, whatever a template says.
    linux = config.setdefault("linux", {})
    others = [entry for entry in linux.get("namespaces") or [] if entry.get("type") != "network"]
    linux["namespaces"] = others + ([{"type": "network"}] if network != "host" else [])
    config["root"] = {"path": "rootfs", "readonly": True}
    if hostname:
        config["hostname"] = hostname
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    annotations = dict(config.get("annotations") or {})
    annotations[f"{ANNOTATION_PREFIX}name"] = name
    if digest:
        annotations[f"{ANNOTATION_PREFIX}digest"] = digest
    proc.pop("selinuxLabel", None)
    linux.pop("mountLabel", None)
    if mcs_label:
        annotations[f"{ANNOTATION_PREFIX}mcs-label"] = mcs_label
        if selinux_enabled:
            proc["selinuxLabel"], linux["mountLabel"] = selinux_contexts(mcs_label)
    config["annotations"] = annotations
    config["ociVersion"] = OCI_VERSION
    return config


def config_label(config: Mapping[str, t.Any]) -> str | None:
    """The MCS label a rendered config carries (annotation, else the process label's level)."""
    annotations = config.get("annotations") or {}
    if annotations.get(f"{ANNOTATION_PREFIX}mcs-label"):
        return annotations[f"{ANNOTATION_PREFIX}mcs-label"]
    label = (config.get("process") or {}).get("selinuxLabel") or ""
    parts = label.split(":", 3)
    return parts[3] if len(parts) == 4 else None
