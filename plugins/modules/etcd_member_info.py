#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_member_info
short_description: Members, health, status and leader of an etcd cluster, as data
version_added: 0.1.0
description:
  - Runs C(etcdctl endpoint health), C(endpoint status) and C(member list) with C(-w json)
    against O(endpoints) and returns the result as data.
  - Member, cluster and leader IDs are unsigned 64-bit numbers; they are returned as exact
    integers and as etcd's hex spelling (C(id_hex)), never as floats.
  - Unhealthy endpoints do not make the module fail; the result says which are down.
    Use O(require_healthy) to fail instead.
  - Works with etcdctl 3.4 and 3.5+, for external members and for kubeadm's stacked etcd.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.etcd
  - groundwork.k8s.attributes
  - groundwork.k8s.attributes.INFO_MODULE
options:
  require_healthy:
    description: Fail unless every endpoint is healthy.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read the external etcd cluster
  groundwork.k8s.etcd_member_info:
    endpoints: [https://10.0.0.11:2379, https://10.0.0.12:2379, https://10.0.0.13:2379]
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key
  register: etcd

- name: Stacked etcd on a kubeadm control plane
  groundwork.k8s.etcd_member_info:
    endpoints: ["https://{{ ansible_default_ipv4.address }}:2379"]
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key
"""

RETURN = r"""
healthy:
  description: Every endpoint answered the health check.
  returned: always
  type: bool
health:
  description: One entry per endpoint (C(endpoint), C(health), C(took), C(error)), sorted by endpoint.
  returned: always
  type: list
  elements: dict
healthy_endpoints:
  description: Endpoints that are healthy.
  returned: always
  type: list
  elements: str
members:
  description:
    - Members (C(id), C(id_hex), C(name), C(peer_urls), C(client_urls), C(is_learner), C(started)).
    - An added learner that never started has an empty name and C(started=false).
  returned: always
  type: list
  elements: dict
status:
  description: C(endpoint status) of each reachable endpoint (version, db size, revision, leader, raft index).
  returned: always
  type: list
  elements: dict
cluster_id:
  description: Cluster ID as an exact integer.
  returned: when an endpoint is healthy
  type: int
cluster_id_hex:
  description: Cluster ID as etcd prints it in hex.
  returned: when an endpoint is healthy
  type: str
  sample: 3af7124936d056ba
leader_hex:
  description: Leader member ID in hex.
  returned: when a leader is known
  type: str
leader_name:
  description: Name of the leader member.
  returned: when a leader is known
  type: str
voting_members:
  description: Members that are not learners.
  returned: always
  type: int
quorum:
  description: Votes needed for quorum.
  returned: when members are known
  type: int
versions:
  description: C(etcdctl), C(etcdutl) versions and the restore tool that would be used.
  returned: always
  type: dict
server_version:
  description: etcd server version reported by the first reachable endpoint.
  returned: when an endpoint is reachable
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._etcd import (
    connection_argspec, etcd_from_params, fail, module_runner)


def main():
    module = AnsibleModule(argument_spec=connection_argspec(require_healthy={"type": "bool", "default": False}),
                           supports_check_mode=True)
    try:
        info = etcd_from_params(module.params, module_runner(module)).cluster_info()
    except GroundworkError as exc:
        fail(module, exc)
    if module.params["require_healthy"] and not info["healthy"]:
        down = [h["endpoint"] for h in info["health"] if not h["health"]]
        module.fail_json(msg="etcd endpoints not healthy: %s" % ", ".join(down), **info)
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
