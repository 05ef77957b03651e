# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The one wrapper around ``etcdctl`` (API v3): argv building, JSON output parsing and error classification.

Parsing and classification are pure functions over etcdctl's output (unit-tested against output captured from
etcdctl 3.4); the ``Etcdctl`` class is the only place that runs the tool. Values are written on stdin, never on argv.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import typing as t

from urllib.parse import urlsplit

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from ansible.module_utils.basic import AnsibleModule

_ENVIRON = {"ETCDCTL_API": "3", "LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

# The options every module using the runner takes (documented by each module).
CONNECTION_OPTIONS: dict[str, dict[str, t.Any]] = {
    "endpoints": {"type": "list", "elements": "str", "default": ["http://127.0.0.1:2379"]},
    "ca_cert": {"type": "path"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path", "no_log": False},
    "executable": {"type": "str", "default": "etcdctl"},
    "dial_timeout": {"type": "int", "default": 5},
    "command_timeout": {"type": "int", "default": 15},
}

# Error kinds, from the most to the least specific stderr marker (etcdctl 3.4 and etcd server messages).
_MARKERS = (
    ("exists", ("peer urls already exists", "member id already exists")),
    ("not_found", ("member not found",)),
    ("unhealthy", ("unhealthy cluster", "not enough started members", "no leader", "too many learner members",
                   "learner member cannot be promoted", "can only promote a learner member which is in sync")),
    ("auth", ("authentication failed", "permission denied", "user name is empty", "invalid auth token")),
    ("tls", ("x509:", "tls:", "certificate", "transport: authentication handshake failed")),
    ("refused", ("connection refused",)),
    ("timeout", ("context deadline exceeded", "deadline exceeded")),
)
_TARGET = re.compile(r'"target":"endpoint://[^/"]*/([^"]+)"')


class EtcdError(Exception):
    """An etcdctl call failed; ``kind`` classifies it and the message names the endpoints involved."""

    def __init__(self, msg: str, kind: str = "failed", argv: Sequence[str] = (), rc: int | None = None,
                 stdout: str = "", stderr: str = "") -> None:
        super().__init__(msg)
        self.kind = kind
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def result(self) -> dict[str, t.Any]:
        """The failure as keyword arguments for fail_json."""
        return {"error_kind": self.kind, "cmd": self.argv, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


class Connection(t.NamedTuple):
    """Where etcd is and how to authenticate to it."""

    endpoints: tuple[str, ...]
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    dial_timeout: int = 5
    command_timeout: int = 15

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> Connection:
        """The connection options of a module's parameters."""
        return cls(tuple(params["endpoints"]), params.get("ca_cert"), params.get("client_cert"),
                   params.get("client_key"), params.get("dial_timeout") or 5, params.get("command_timeout") or 15)

    def flags(self) -> list[str]:
        """The global etcdctl flags for this connection."""
        flags = [f"--endpoints={','.join(self.endpoints)}", f"--dial-timeout={self.dial_timeout}s",
                 f"--command-timeout={self.command_timeout}s"]
        for flag, value in (("--cacert", self.ca_cert), ("--cert", self.client_cert), ("--key", self.client_key)):
            if value:
                flags.append(f"{flag}={value}")
        return flags


def validate_connection(params: dict[str, t.Any]) -> list[str]:
    """Problems with the connection options, each naming the option and what it accepts (empty when fine)."""
    problems = []
    endpoints = params.get("endpoints") or []
    if not endpoints:
        problems.append("endpoints: at least one endpoint is needed, e.g. https://10.0.0.1:2379")
    for endpoint in endpoints:
        if "," in endpoint or not endpoint.strip() or endpoint != endpoint.strip():
            problems.append(f"endpoints: {endpoint!r} is not one endpoint; accepted: a URL such as "
                            "https://10.0.0.1:2379, one per list item")
        elif "://" in endpoint and urlsplit(endpoint).scheme not in ("http", "https", "unix", "unixs"):
            problems.append(f"endpoints: {endpoint!r} has an unsupported scheme; accepted: http, https, unix, unixs")
    if bool(params.get("client_cert")) != bool(params.get("client_key")):
        problems.append("client_cert and client_key: give both or neither")
    for name in ("dial_timeout", "command_timeout"):
        value = params.get(name)
        if value is not None and value < 1:
            problems.append(f"{name}: {value} is not a positive number of seconds")
    return problems


def build_argv(binary: str, connection: Connection, args: Sequence[str], output: str | None = "json") -> list[str]:
    """``etcdctl <global flags> [-w json] <args>``; positional arguments in ``args`` follow a ``--`` given by callers."""
    argv = [binary, *connection.flags()]
    if output:
        argv.append(f"--write-out={output}")
    argv.extend(args)
    return argv


def _b64(text: str | None) -> str:
    """Decode one base64 field of etcdctl's JSON (keys and values); an absent field is the empty string."""
    if not text:
        return ""
    # etcd stores bytes; text is what these modules manage, so undecodable bytes are shown, not hidden.
    return base64.b64decode(text).decode("utf-8", errors="replace")


def _load(text: str, what: str) -> t.Any:
    """JSON output of etcdctl, or an EtcdError saying what could not be read."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EtcdError(f"could not read the {what} etcdctl printed as JSON: {exc}: {text[:200]!r}") from exc


def parse_get(text: str) -> dict[str, dict[str, t.Any]]:
    """``get -w json`` output as key -> {value, create_revision, mod_revision, version}, keys and values decoded."""
    data = _load(text, "get result")
    found = {}
    for kv in data.get("kvs") or []:
        found[_b64(kv.get("key"))] = {"value": _b64(kv.get("value")), "create_revision": kv.get("create_revision", 0),
                                      "mod_revision": kv.get("mod_revision", 0), "version": kv.get("version", 0)}
    return found


def parse_deleted(text: str) -> int:
    """How many keys ``del -w json`` deleted."""
    return int(_load(text, "delete result").get("deleted", 0))


def member_id_hex(value: int | str) -> str:
    """A member ID as etcdctl's commands take it (hex, no padding), from the decimal JSON number or a hex string."""
    if isinstance(value, int):
        return f"{value:x}"
    text = str(value).strip().lower()
    return f"{int(text, 16):x}"


def parse_members(text: str) -> list[dict[str, t.Any]]:
    """``member list -w json`` as a list of members (hex ``id``, name, peer/client URLs, learner, started)."""
    data = _load(text, "member list")
    members = []
    for member in data.get("members") or []:
        name = member.get("name") or ""
        client_urls = list(member.get("clientURLs") or [])
        members.append({
            "id": member_id_hex(int(member.get("ID", 0))),
            "name": name,
            "peer_urls": list(member.get("peerURLs") or []),
            "client_urls": client_urls,
            "is_learner": bool(member.get("isLearner", False)),
            # A member that was added but never started has no name and no client URLs yet.
            "started": bool(name or client_urls),
        })
    return members


def parse_member_add(text: str) -> dict[str, t.Any]:
    """``member add`` (simple output): the new member's hex ID and the ETCD_* settings etcdctl prints for it."""
    match = re.search(r"Member\s+([0-9a-fA-F]+)\s+added", text)
    settings = dict(re.findall(r'^(ETCD_[A-Z_]+)="(.*)"\s*$', text, flags=re.MULTILINE))
    if not match or "ETCD_INITIAL_CLUSTER" not in settings:
        raise EtcdError(f"could not read the new member from etcdctl's member add output: {text[:300]!r}")
    return {"id": member_id_hex(match.group(1)), "settings": settings,
            "initial_cluster": settings["ETCD_INITIAL_CLUSTER"]}


def initial_cluster(members: Sequence[dict[str, t.Any]], member_id: str | None, name: str) -> str:
    """ETCD_INITIAL_CLUSTER as etcdctl's member add builds it: every peer URL of every member, the given one named.

    A member without an ID (one check mode predicts) is the given one too.
    """
    parts = []
    for member in members:
        member_name = name if member["id"] is None or member["id"] == member_id else member["name"]
        parts.extend(f"{member_name}={url}" for url in member["peer_urls"])
    return ",".join(parts)


def parse_endpoint_health(text: str) -> list[dict[str, t.Any]]:
    """``endpoint health -w json`` as [{endpoint, health, error}] (the JSON line among etcdctl's log lines)."""
    for line in text.splitlines():
        if line.startswith("["):
            return [{"endpoint": item.get("endpoint", ""), "health": bool(item.get("health")),
                     "error": item.get("error", "")} for item in _load(line, "endpoint health")]
    raise EtcdError(f"etcdctl printed no endpoint health: {text[:300]!r}")


def parse_endpoint_status(text: str) -> list[dict[str, t.Any]]:
    """``endpoint status -w json`` as [{endpoint, member_id, leader_id, is_leader, version, db_size, raft_term}]."""
    statuses = []
    for item in _load(text, "endpoint status"):
        status = item.get("Status") or {}
        member = member_id_hex(int((status.get("header") or {}).get("member_id", 0)))
        leader = member_id_hex(int(status.get("leader", 0)))
        statuses.append({"endpoint": item.get("Endpoint", ""), "member_id": member, "leader_id": leader,
                         "is_leader": member == leader, "version": status.get("version", ""),
                         "db_size": status.get("dbSize", 0), "raft_term": status.get("raftTerm", 0),
                         "is_learner": bool(status.get("isLearner", False))})
    return statuses


def error_detail(stderr: str, stdout: str = "") -> str:
    """The ``Error: ...`` line etcdctl ends with, else the last line of output."""
    lines = [line.strip() for line in (stderr or stdout).splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("Error:"):
            return line[len("Error:"):].strip()
    return lines[-1] if lines else "no output"


def failed_targets(stderr: str, endpoints: Sequence[str]) -> list[str]:
    """The endpoints etcdctl's retry warnings name (host:port mapped back to the configured URL)."""
    named = []
    for target in _TARGET.findall(stderr):
        match = next((e for e in endpoints if urlsplit(e if "://" in e else f"//{e}").netloc == target), target)
        if match not in named:
            named.append(match)
    return named


def classify(stderr: str, stdout: str = "") -> str:
    """The kind of an etcdctl failure: exists, not_found, unhealthy, auth, tls, refused, timeout or failed."""
    text = f"{stderr}\n{stdout}".lower()
    for kind, markers in _MARKERS:
        if any(marker in text for marker in markers):
            return kind
    return "failed"


def explain(kind: str, detail: str, endpoints: Sequence[str], probes: dict[str, str] | None = None) -> tuple[str, str]:
    """The kind (refined by TCP probes for a timeout) and a message naming the endpoints and the likely fix."""
    where = ", ".join(endpoints)
    if kind == "timeout" and probes:
        refused = [e for e, state in probes.items() if state != "open"]
        if len(refused) == len(probes):
            kind = "refused"
            where = ", ".join(f"{e} ({probes[e]})" for e in refused)
        else:
            # TCP works, so the gRPC/TLS handshake is what failed (etcd 3.4 reports both as a deadline).
            kind = "tls"
            where = ", ".join(e for e, state in probes.items() if state == "open")
    messages = {
        "refused": f"cannot connect to etcd at {where}: nothing accepts connections there; check endpoints and "
                   "that etcd runs",
        "tls": f"TLS with etcd at {where} failed ({detail}): the server refused the client or its certificate, or "
               "the server certificate is not trusted; check ca_cert, client_cert and client_key and the scheme "
               "(https) of the endpoints",
        "timeout": f"etcd at {where} did not answer in time ({detail}); it may be down, refusing the client's "
                   "certificate, or without quorum",
        "unhealthy": f"the etcd cluster behind {where} refused a membership change as unsafe ({detail}): a member is "
                     "down, or was added but not started yet; start (or remove) it, wait until every member is "
                     "healthy, and retry",
        "auth": f"etcd at {where} refused the request ({detail}): check the client certificate's identity and etcd "
                "authentication",
        "exists": f"etcd at {where} already has a member with these peer URLs ({detail})",
        "not_found": f"etcd at {where} has no such member ({detail})",
    }
    return kind, messages.get(kind, f"etcdctl failed against {where}: {detail}")


def tcp_probe(endpoint: str, timeout: float) -> str:
    """``open`` when a TCP connection to the endpoint succeeds, else why not (refused, timed out...)."""
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    if parts.scheme in ("unix", "unixs") or not parts.hostname:
        return "open"
    port = parts.port or 2379
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


class Etcdctl:
    """Runs etcdctl v3 for a module; every method raises EtcdError on failure."""

    def __init__(self, module: AnsibleModule, connection: Connection, binary: str = "etcdctl") -> None:
        self.module = module
        self.connection = connection
        self.binary = binary if "/" in binary else module.get_bin_path(binary, required=True)

    def run(self, args: Sequence[str], data: str | None = None, output: str | None = "json") -> str:
        """Run etcdctl with the connection flags; ``data`` goes to stdin. Returns stdout."""
        argv = build_argv(self.binary, self.connection, args, output)
        kwargs: dict[str, t.Any] = {"environ_update": _ENVIRON}
        if data is not None:
            kwargs.update(data=data, binary_data=True)
        rc, out, err = self.module.run_command(argv, **kwargs)
        if rc != 0:
            kind = classify(err, out)
            endpoints = failed_targets(err, self.connection.endpoints) or list(self.connection.endpoints)
            probes = None
            if kind == "timeout":
                probes = {e: tcp_probe(e, self.connection.dial_timeout) for e in endpoints}
            kind, msg = explain(kind, error_detail(err, out), endpoints, probes)
            raise EtcdError(msg, kind, argv, rc, out, err)
        return out

    def get_range(self, start: str, end: str | None = None) -> dict[str, dict[str, t.Any]]:
        """Keys in [start, end) (just ``start`` without end), with one ``get`` call."""
        return parse_get(self.run(["get", "--", start, *([end] if end else [])]))

    def get_prefix(self, prefix: str) -> dict[str, dict[str, t.Any]]:
        """Every key below a prefix, with one ``get --prefix`` call."""
        return parse_get(self.run(["get", "--prefix", "--", prefix]))

    def put(self, key: str, value: str) -> None:
        """Write a value; it goes to etcdctl on stdin (etcdctl refuses an empty stdin, so "" is an argument)."""
        if value == "":
            self.run(["put", "--", key, ""])
        else:
            self.run(["put", "--", key], data=value)

    def delete(self, key: str, prefix: bool = False) -> int:
        """Delete a key or every key below a prefix; returns how many were deleted."""
        return parse_deleted(self.run(["del", *(["--prefix"] if prefix else []), "--", key]))

    def member_list(self) -> list[dict[str, t.Any]]:
        """The cluster's members (one ``member list`` call)."""
        return parse_members(self.run(["member", "list"]))

    def member_add(self, name: str, peer_urls: Sequence[str], learner: bool = False) -> dict[str, t.Any]:
        """Add a member; returns its ID and the ETCD_* settings to start it with."""
        args = ["member", "add", *(["--learner"] if learner else []), f"--peer-urls={','.join(peer_urls)}", "--", name]
        return parse_member_add(self.run(args, output=None))

    def member_remove(self, member_id: str) -> None:
        """Remove a member by its hex ID."""
        self.run(["member", "remove", "--", member_id], output=None)

    def member_promote(self, member_id: str) -> None:
        """Promote a learner to a voting member."""
        self.run(["member", "promote", "--", member_id], output=None)

    def endpoint_health(self) -> list[dict[str, t.Any]]:
        """Health of every configured endpoint; an unhealthy one is reported, not raised."""
        argv = build_argv(self.binary, self.connection, ["endpoint", "health"])
        dummy_rc, out, err = self.module.run_command(argv, environ_update=_ENVIRON)
        return parse_endpoint_health(f"{out}\n{err}")

    def endpoint_status(self) -> list[dict[str, t.Any]]:
        """Status of every configured endpoint (member, leader, version)."""
        return parse_endpoint_status(self.run(["endpoint", "status"]))


def prefix_end(prefix: str) -> str:
    """The first key after every key that starts with ``prefix`` (etcd's range end for a prefix)."""
    chars = list(prefix)
    while chars:
        if ord(chars[-1]) < 0x10FFFF:
            chars[-1] = chr(ord(chars[-1]) + 1)
            return "".join(chars)
        chars.pop()
    return ""


def covering_range(keys: Sequence[str], prefixes: Sequence[str] = ()) -> tuple[str, str]:
    """One [start, end) range holding every key and every key below every prefix (read with a single ``get``)."""
    start = min([*keys, *prefixes])
    # A key's own prefix end also holds the key (argv cannot carry the NUL that key + "\\0" would need).
    end = max(prefix_end(item) for item in [*keys, *prefixes])
    return start, end
