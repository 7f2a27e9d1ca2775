#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_member
short_description: Add an etcd member as a learner and promote it, or remove a member
version_added: 0.1.0
description:
  - O(state=present) adds a missing member as a B(learner) (it cannot vote, so adding it never
    changes the quorum) and, with O(promote=true), promotes it once it has caught up with the
    leader, retrying for up to O(promote_timeout) seconds.
  - The usual flow is two calls around starting the new member - O(promote=false) (returns
    RV(initial_cluster) for the new member's C(--initial-cluster) with C(--initial-cluster-state existing)),
    start etcd on the new host, then O(promote=true).
  - O(state=absent) removes the member found by O(member_id), O(peer_urls) or O(name).
    Removing the last voting member is refused.
  - Members are matched by peer URLs first, because a learner that never started has no name.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.etcd
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description: Whether the member exists (as a voting member when O(promote=true)).
    type: str
    choices: [present, absent]
    default: present
  name:
    description: Member name (C(--name) of that etcd).
    type: str
  peer_urls:
    description: Peer URLs of the member (C(--initial-advertise-peer-urls)).
    type: list
    elements: str
    default: []
  member_id:
    description: Member ID in hex (as C(etcdctl member list) prints it), to remove a member by ID.
    type: str
  promote:
    description: Promote the learner to a voting member (waits for it to catch up).
    type: bool
    default: true
  promote_timeout:
    description: Seconds to keep retrying the promotion while the learner catches up.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Add etcd4 as a learner (it is not started yet)
  groundwork.k8s.etcd_member:
    name: etcd4
    peer_urls: [https://10.0.0.14:2380]
    promote: false
    endpoints: "{{ etcd_client_urls }}"
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key
  register: added

- name: Promote it once it runs
  groundwork.k8s.etcd_member:
    name: etcd4
    peer_urls: [https://10.0.0.14:2380]
    endpoints: "{{ etcd_client_urls }}"
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key

- name: Remove a dead member
  groundwork.k8s.etcd_member:
    state: absent
    name: etcd2
    endpoints: "{{ etcd_client_urls }}"
"""

RETURN = r"""
operation:
  description: What was done (or would be, in check mode) - C(none), C(add), C(add+promote), C(promote), C(remove).
  returned: always
  type: str
member:
  description: The member after the change (C(id), C(id_hex), C(name), C(peer_urls), C(is_learner)), if it exists.
  returned: always
  type: dict
initial_cluster:
  description: C(--initial-cluster) for a newly added member (every member's name=peer URL, itself included).
  returned: when state=present
  type: str
members:
  description: Member list after the change.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._etcd import (
    connection_argspec, etcd_from_params, fail, find_member, initial_cluster_string, module_runner, plan_member)


def _view(members):
    return sorted("%s %s%s" % (m["name"] or "(unstarted)", ",".join(m["peer_urls"]),
                               " learner" if m["is_learner"] else "") for m in members)


def main():
    module = AnsibleModule(
        argument_spec=connection_argspec(
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            name={"type": "str"},
            peer_urls={"type": "list", "elements": "str", "default": []},
            member_id={"type": "str"},
            promote={"type": "bool", "default": True},
            promote_timeout={"type": "int", "default": 120},
        ),
        required_if=[("state", "present", ("name", "peer_urls"))],
        required_one_of=[("name", "peer_urls", "member_id")],
        supports_check_mode=True,
    )
    p = module.params
    etcd = etcd_from_params(p, module_runner(module))
    try:
        before = etcd.member_list()["members"]
        action, found = plan_member(before, p["state"], p["name"], p["peer_urls"], p["member_id"], p["promote"])
        if action != "none" and not module.check_mode:
            if action.startswith("add"):
                etcd.member_add_learner(p["name"], p["peer_urls"])
                found = find_member(etcd.member_list()["members"], p["name"], p["peer_urls"])
            if action in ("promote", "add+promote"):
                etcd.promote_until_synced(found["id"], timeout=p["promote_timeout"])
            if action == "remove":
                etcd.member_remove(found["id"])
        after = before if module.check_mode else etcd.member_list()["members"]
    except GroundworkError as exc:
        fail(module, exc)
    member = find_member(after, p["name"], p["peer_urls"], p["member_id"]) if p["state"] == "present" else found
    result = {"changed": action != "none", "operation": action, "member": member or {}, "members": after,
              "diff": {"before": "\n".join(_view(before)) + "\n", "after": "\n".join(_view(after)) + "\n"}}
    if p["state"] == "present":
        names = {m["name"] or (p["name"] if set(m["peer_urls"]) & set(p["peer_urls"]) else m["id_hex"]):
                 m["peer_urls"][0] for m in after if m["peer_urls"]}
        names[p["name"]] = p["peer_urls"][0]
        result["initial_cluster"] = initial_cluster_string(names)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
