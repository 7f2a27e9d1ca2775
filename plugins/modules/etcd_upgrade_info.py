#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_upgrade_info
short_description: Plan a rolling etcd upgrade from what the members report
version_added: 0.1.0
description:
  - Reads the members of an etcd cluster (C(etcdctl member list), C(endpoint health), C(endpoint status)
    with C(-w json)), the cluster version (C(GET /version) of a healthy member, with the same client
    certificate) and, optionally, the version of the etcd binary on this host (C(etcd --version)).
  - Returns the plan of a rolling upgrade to O(target_version) following etcd's upgrade rules - one minor
    at a time, no downgrade, every member healthy and started, no learner, no member outside the
    inventory, before 3.6 every member on 3.5.26 or later - and, when refused, one message per reason
    naming the fix. Nothing is changed; a refusal does not make the module fail (the playbook decides).
  - With O(member_name), also says whether that member is ready - healthy, running O(target_version), at most
    O(max_lag) raft entries behind the leader - for the wait after its restart.
  - Used by C(playbooks/upgrade_etcd.yml) (role C(groundwork.k8s.etcd), C(tasks_from=upgrade_check) and
    C(upgrade_member)); works with etcdctl and etcd 3.4 and 3.5+.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.etcd
  - groundwork.k8s.attributes
  - groundwork.k8s.attributes.INFO_MODULE
options:
  target_version:
    description: The etcd version to upgrade to, for example C(3.5.21) or C(v3.5.21).
    type: str
    required: true
  inventory_names:
    description: The etcd names of the inventory's members, in the order they are upgraded.
    type: list
    elements: str
    required: true
  member_name:
    description: The etcd name of the member on this host; its readiness is returned.
    type: str
  etcd_binary:
    description: Path of the etcd binary on this host whose version is returned (none when unset).
    type: path
  max_lag:
    description: Raft entries a restarted member may be behind the leader and still count as caught up.
    type: int
    default: 50
  version_var:
    description: Name of the variable the user sets for the target, used in the refusal messages.
    type: str
    default: etcd_upgrade_version
  wait:
    description:
      - Read again every 2 seconds until this holds or O(timeout) passes, then return the last reading
        (C(reached) says whether it held; the module does not fail on a timeout).
      - C(healthy) every member healthy and nothing refused; C(ready) O(member_name) ready; C(cluster_version)
        the cluster version at the target's minor.
    type: str
    choices: [none, healthy, ready, cluster_version]
    default: none
  timeout:
    description: Seconds O(wait) may take.
    type: int
    default: 180
"""

EXAMPLES = r"""
- name: Plan the upgrade of the external members to 3.5.21
  groundwork.k8s.etcd_upgrade_info:
    endpoints: [https://10.0.0.11:2379, https://10.0.0.12:2379, https://10.0.0.13:2379]
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key
    etcdctl: /usr/local/bin/etcdctl
    target_version: 3.5.21
    inventory_names: [e1, e2, e3]
    member_name: e1
    etcd_binary: /usr/local/bin/etcd
  register: etcd_upgrade

- name: Refuse before any change
  ansible.builtin.assert:
    that: etcd_upgrade.plan.refusals | length == 0
    fail_msg: "{{ etcd_upgrade.plan.refusals | join(' ') }}"
"""

RETURN = r"""
plan:
  description:
    - C(target), C(cluster_version), C(kind) (C(minor), C(patch) or C(none)), C(upgrade) (member names still to
      upgrade, in O(inventory_names) order), C(done), C(refusals) (empty = the upgrade may go on),
      C(final_cluster_version) (what the cluster version becomes once every member runs the target).
  returned: always
  type: dict
cluster_version:
  description: The cluster version (C(/version)'s C(etcdcluster), e.g. C(3.4.0)); the lowest minor the members run.
  returned: always
  type: str
members:
  description:
    - One row per member - C(name), C(id_hex), C(client_urls), C(started), C(is_learner), C(healthy), C(error),
      C(version) (the server version it runs), C(is_leader), C(raft_index), C(raft_applied_index), C(lag) (raft
      entries behind the leader).
  returned: always
  type: list
  elements: dict
healthy:
  description: Every member is healthy.
  returned: always
  type: bool
leader_name:
  description: Name of the leader.
  returned: when a leader is known
  type: str
member:
  description: The row of O(member_name).
  returned: when O(member_name) is given and a member of that name exists
  type: dict
ready:
  description: O(member_name) is healthy, runs O(target_version) and is caught up.
  returned: when O(member_name) is given
  type: bool
not_ready:
  description: Why O(member_name) is not ready.
  returned: when O(member_name) is given and it is not ready
  type: str
reached:
  description: What O(wait) waited for holds (always true without O(wait)).
  returned: always
  type: bool
waited:
  description: Seconds spent waiting.
  returned: always
  type: float
last_error:
  description: Why the last reading of O(wait) failed (a member restarting), or null.
  returned: always
  type: str
binary_version:
  description: Version of O(etcd_binary) (what the member runs after its next restart); null when missing.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._etcd import (
    connection_argspec, etcd_from_params, fail, module_runner)
from ansible_collections.groundwork.k8s.plugins.module_utils._etcd_upgrade import (
    DEFAULT_MAX_LAG, read_state, wait_state)


def main():
    module = AnsibleModule(
        argument_spec=connection_argspec(
            target_version={"type": "str", "required": True},
            inventory_names={"type": "list", "elements": "str", "required": True},
            member_name={"type": "str"},
            etcd_binary={"type": "path"},
            max_lag={"type": "int", "default": DEFAULT_MAX_LAG},
            version_var={"type": "str", "default": "etcd_upgrade_version"},
            wait={"type": "str", "default": "none", "choices": ["none", "healthy", "ready", "cluster_version"]},
            timeout={"type": "int", "default": 180},
        ),
        supports_check_mode=True)
    p = module.params
    run = module_runner(module)
    etcd = etcd_from_params(p, run)

    def read():
        return read_state(etcd, p["target_version"], p["inventory_names"], member_name=p["member_name"],
                          etcd_binary=p["etcd_binary"], run_command=run, max_lag=p["max_lag"],
                          version_var=p["version_var"])
    try:
        state = wait_state(read, p["wait"], p["timeout"])
    except GroundworkError as exc:
        fail(module, exc)
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
