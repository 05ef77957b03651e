# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_member
short_description: List, add and remove etcd cluster members by peer URL
version_added: 0.1.0
description:
  - Lists the members of an etcd cluster, adds a member, or removes one, through C(etcdctl) (API v3).
  - Members are matched by peer URL, so a member that was added before (started or not) is not added again, whatever
    name it reports.
  - Adding a member returns the C(ETCD_INITIAL_CLUSTER) string to start it with (C(initial-cluster-state existing));
    on later runs the same string is built from the member list in the order etcdctl uses.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  state:
    description:
      - V(present) adds the member unless a member has its peer URLs (and promotes it when it is a learner and
        O(learner=false)); V(absent) removes the member found by O(name) or O(peer_urls).
      - Without O(name) and O(peer_urls), the task only lists the members (RV(members_before)) and changes nothing.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The member's name. Required with O(state=present) when O(peer_urls) is given. With O(state=absent), the
        member to remove when O(peer_urls) is not given.
    type: str
  peer_urls:
    description:
      - The member's peer URLs. Required with O(state=present) when O(name) is given; they identify the member.
      - With O(state=absent), the member that has any of these URLs is removed.
    type: list
    elements: str
  learner:
    description:
      - Add the member as a non-voting learner (etcd 3.4 and later), which does not count towards quorum until it
        is promoted.
      - With V(false) and an existing learner with these peer URLs, the learner is promoted; etcd refuses the
        promotion until the learner has caught up with the leader.
    type: bool
    default: false
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._etcd
attributes:
  check_mode:
    support: full
    details: Reads the member list and predicts C(changed), the members after and the diff; changes nothing.
  diff_mode:
    support: full
    details: Shows the member list before and after.
  idempotent:
    support: full
    details: A member is matched by peer URL, so a second run adds or removes nothing.
  platform:
    support: full
    platforms: posix
    details: Needs C(etcdctl) 3.4 or later on the target and an etcd 3 cluster it can reach.
notes:
  - etcd refuses to add a member while another added member has not started, or while a member is unhealthy; the
    task then fails saying so. Add members one at a time, starting each before adding the next (or use
    O(learner=true)).
  - In check mode the new member's ID is not known; its entry in RV(members_after) has V(null) as C(id), and
    RV(initial_cluster) lists it last.
seealso:
  - module: containerhost.platform.etcd_key
"""

EXAMPLES = r"""
- name: Add the new host to the cluster, through the existing members
  containerhost.platform.etcd_member:
    endpoints: "{{ groups['etcd'] | difference([inventory_hostname]) | map('extract', hostvars, 'etcd_client_url') }}"
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
    name: "{{ inventory_hostname }}"
    peer_urls: ["https://{{ ansible_default_ipv4.address }}:2380"]
  register: member
  delegate_to: "{{ groups['etcd'][0] }}"

- name: Start it with ETCD_INITIAL_CLUSTER={{ member.initial_cluster }} and initial-cluster-state existing
  ansible.builtin.debug:
    var: member.initial_cluster

- name: Remove a member that left the group
  containerhost.platform.etcd_member:
    name: old-node
    state: absent

- name: List the members (no name, no peer URLs)
  containerhost.platform.etcd_member:
    endpoints: [https://10.0.0.1:2379]
  register: etcd_members
"""

RETURN = r"""
members_before:
  description: The members when the task started, ordered by ID.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The member ID in hex, as etcdctl's member commands take it.
      type: str
      sample: 2e1259d415f2a040
    name:
      description: The member's name; empty for a member that was added but has not started.
      type: str
      sample: m1
    peer_urls:
      description: The member's peer URLs.
      type: list
      elements: str
      sample: [http://127.0.0.1:2380]
    client_urls:
      description: The member's client URLs; empty until it has started.
      type: list
      elements: str
      sample: [https://127.0.0.1:2379]
    is_learner:
      description: Whether the member is a non-voting learner.
      type: bool
      sample: false
    started:
      description: Whether the member has started (it has a name or client URLs).
      type: bool
      sample: true
members_after:
  description: The members after the task (predicted in check mode), as RV(members_before).
  returned: always
  type: list
  elements: dict
member:
  description: The member matched, added, promoted or removed, as in RV(members_before); V(null) when none.
  returned: always
  type: dict
  sample: {"id": "3165b866940ec1fb", "name": "m2", "peer_urls": ["http://127.0.0.1:2380"], "client_urls": [],
           "is_learner": false, "started": false}
initial_cluster:
  description:
    - For O(state=present), the C(ETCD_INITIAL_CLUSTER) value to start the member with (as etcdctl printed it when
      the member was added now).
  returned: when O(state=present) and a member is declared
  type: str
  sample: m1=http://127.0.0.1:2380,m2=http://127.0.0.1:2381
initial_cluster_state:
  description: For O(state=present), V(existing), the C(ETCD_INITIAL_CLUSTER_STATE) to start the member with.
  returned: when O(state=present) and a member is declared
  type: str
  sample: existing
"""

import copy
import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._etcdctl import (
    CONNECTION_OPTIONS,
    Connection,
    EtcdError,
    Etcdctl,
    initial_cluster,
    validate_connection,
)


def member_text(members: list[dict[str, t.Any]]) -> str:
    """The member list as diff text, one member per line."""
    lines = []
    for member in members:
        role = " learner" if member["is_learner"] else ""
        state = "" if member["started"] else " (not started)"
        lines.append(f"{member['name'] or '-'} {','.join(member['peer_urls'])}{role}{state}\n")
    return "".join(lines)


def find_members(members: list[dict[str, t.Any]], name: str | None,
                 peer_urls: list[str] | None) -> list[dict[str, t.Any]]:
    """Members having any of the peer URLs, or (without peer URLs) the name."""
    if peer_urls:
        wanted = set(peer_urls)
        return [member for member in members if wanted & set(member["peer_urls"])]
    return [member for member in members if name and member["name"] == name]


class MemberManager:
    """Reads the member list once, decides the one membership change, makes it and reads the list again."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.etcdctl: Etcdctl | None = None
        self.before: list[dict[str, t.Any]] = []
        self.after: list[dict[str, t.Any]] = []
        self.member: dict[str, t.Any] | None = None
        self.action: str | None = None
        self.initial_cluster = ""

    def validate(self) -> None:
        """Check the options; fail naming the option and what it accepts before etcd is asked anything."""
        params = self.params
        problems = validate_connection(params)
        for name in ("ca_cert", "client_cert", "client_key"):
            if params[name] and not os.path.isfile(params[name]):
                problems.append(f"{name}: {params[name]} is not a file")
        for url in params["peer_urls"] or []:
            if not url.startswith(("http://", "https://")) or "," in url:
                problems.append(f"peer_urls: {url!r} is not a peer URL; accepted: http(s)://host:port, one per item")
        if params["state"] == "present" and (params["name"] is None) != (not params["peer_urls"]):
            missing = "peer_urls" if params["name"] is not None else "name"
            problems.append(f"{missing}: required with state present to declare a member (give name and peer_urls, "
                            "or neither to list the members)")
        elif params["state"] == "present" and params["name"] is not None and not params["name"].strip():
            problems.append("name: must not be empty")
        if problems:
            self.module.fail_json(msg="; ".join(problems))

    def decide(self) -> None:
        """Find the member and the change to make (add, promote, remove or none)."""
        params = self.params
        state = params["state"]
        if params["name"] is None and not params["peer_urls"]:
            # Nothing declared: list only.
            return
        matches = find_members(self.before, params["name"], params["peer_urls"])
        if len(matches) > 1:
            found = "; ".join(f"{m['id']} ({m['name'] or 'not started'}: {','.join(m['peer_urls'])})" for m in matches)
            self.module.fail_json(msg=f"{'peer_urls' if params['peer_urls'] else 'name'}: matches several members "
                                      f"({found}); give exactly the peer URLs of one member")
        self.member = matches[0] if matches else None
        if state == "absent":
            self.action = "remove" if self.member else None
            return
        if self.member is None:
            self.action = "add"
            return
        if set(self.member["peer_urls"]) != set(params["peer_urls"]):
            self.module.fail_json(
                msg=f"peer_urls: member {self.member['id']} ({self.member['name'] or 'not started'}) has peer URLs "
                    f"{','.join(self.member['peer_urls'])}, not {','.join(params['peer_urls'])}; changing a member's "
                    "peer URLs is not supported: give all of its URLs, or remove it first", member=self.member)
        if self.member["name"] and self.member["name"] != params["name"]:
            self.module.warn(f"member {self.member['id']} with peer URLs {','.join(params['peer_urls'])} is named "
                             f"{self.member['name']!r}, not {params['name']!r}; left as it is")
        if self.member["is_learner"] and not params["learner"]:
            self.action = "promote"
        elif params["learner"] and not self.member["is_learner"]:
            self.module.warn(f"member {self.member['id']} is a voting member already; etcd cannot make it a learner")

    def predict(self) -> list[dict[str, t.Any]]:
        """The member list after the change, as far as it can be known without making it."""
        members = copy.deepcopy(self.before)
        if self.action == "add":
            members.append({"id": None, "name": "", "peer_urls": list(self.params["peer_urls"]), "client_urls": [],
                            "is_learner": self.params["learner"], "started": False})
        elif self.action == "remove" and self.member:
            members = [member for member in members if member["id"] != self.member["id"]]
        elif self.action == "promote" and self.member:
            for member in members:
                if member["id"] == self.member["id"]:
                    member["is_learner"] = False
        return members

    def apply(self) -> None:
        """Make the change and read the member list again."""
        if self.etcdctl is None:
            raise RuntimeError("apply() before read()")
        if self.action == "add":
            added = self.etcdctl.member_add(self.params["name"], self.params["peer_urls"], self.params["learner"])
            self.initial_cluster = added["initial_cluster"]
            self.after = self.etcdctl.member_list()
            self.member = next((m for m in self.after if m["id"] == added["id"]), None)
            return
        if self.action == "remove" and self.member:
            self.etcdctl.member_remove(self.member["id"])
        elif self.action == "promote" and self.member:
            self.etcdctl.member_promote(self.member["id"])
        self.after = self.etcdctl.member_list() if self.action else copy.deepcopy(self.before)
        if self.member:
            self.member = next((m for m in self.after if m["id"] == self.member["id"]), self.member)

    def run(self) -> None:
        """Validate, read, decide, act (unless in check mode) and exit."""
        self.validate()
        try:
            self.etcdctl = Etcdctl(self.module, Connection.from_params(self.params), self.params["executable"])
            self.before = self.etcdctl.member_list()
            self.decide()
            if self.module.check_mode:
                self.after = self.predict()
            else:
                self.apply()
        except EtcdError as exc:
            self.module.fail_json(msg=str(exc), members_before=self.before, **exc.result())
        result: dict[str, t.Any] = {"changed": self.action is not None, "members_before": self.before,
                                    "members_after": self.after, "member": self.member}
        if self.params["state"] == "present" and self.params["name"] is not None:
            if not self.initial_cluster:
                # Same order and naming as etcdctl's own output: by member ID, the member under its given name.
                self.initial_cluster = initial_cluster(self.after, self.member["id"] if self.member else None,
                                                       self.params["name"])
            result.update(initial_cluster=self.initial_cluster, initial_cluster_state="existing")
        if self.module._diff:
            result["diff"] = {"before_header": "etcd members", "after_header": "etcd members",
                              "before": member_text(self.before), "after": member_text(self.after)}
        self.module.exit_json(**result)


def main() -> None:
    """Manage one etcd member."""
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "name": {"type": "str"},
            "peer_urls": {"type": "list", "elements": "str"},
            "learner": {"type": "bool", "default": False},
            **CONNECTION_OPTIONS,
        },
        supports_check_mode=True,
    )
    MemberManager(module).run()


if __name__ == "__main__":
    main()
