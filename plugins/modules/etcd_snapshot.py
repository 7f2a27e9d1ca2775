#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_snapshot
short_description: Take a verified etcd snapshot with metadata, and prune old ones
version_added: 0.1.0
description:
  - Saves a snapshot from B(one) healthy member (a follower when one is healthy, to spare the
    leader), under a temporary name in the destination directory.
  - Verifies it before it gets its final name - the sha256 that etcd appends to every snapshot
    (C(snapshot status) does not check it, so a file missing its last bytes would pass),
    C(snapshot status) (a panic or non-zero exit means corrupt) and, with O(trial_restore=true),
    a trial restore into a temporary directory that is removed afterwards.
  - Writes metadata beside the snapshot (C(<snapshot>.json)) - revision, key count, db size,
    etcd hash, our sha256, etcd server version, cluster ID, member, time, tool versions.
  - Keeps the newest O(keep) snapshots named C(<prefix><UTC time>.db) in O(dest_dir) and deletes
    older ones with their metadata.
  - Idempotence comes from O(max_age) (a recent enough snapshot counts as present) or a fixed
    O(path) (an existing verified file counts as present); otherwise each run takes a new snapshot.
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
    support: partial
    details:
      - Idempotent with O(max_age) or a fixed O(path); otherwise every run adds a snapshot (by design).
options:
  state:
    description: C(present) - a verified snapshot exists (taking one when needed).
    type: str
    choices: [present]
    default: present
  dest_dir:
    description: Directory of the snapshots (created 0700). Required unless O(path) is given.
    type: path
  path:
    description: Exact file to write. Without it, C(<dest_dir>/<prefix><UTC time>.db).
    type: path
  prefix:
    description: File name prefix of the snapshots in O(dest_dir).
    type: str
    default: etcd-snapshot-
  keep:
    description: How many snapshots to keep in O(dest_dir); C(0) disables pruning.
    type: int
    default: 7
  max_age:
    description:
      - Seconds. When the newest snapshot in O(dest_dir) is younger and its metadata says it was
        verified, no new snapshot is taken. C(0) means always take one.
    type: int
    default: 0
  endpoint:
    description: Take the snapshot from this client URL instead of picking a healthy follower.
    type: str
  trial_restore:
    description: Verify by restoring into a temporary directory (recommended; costs one restore).
    type: bool
    default: true
  save_timeout:
    description: etcdctl C(--command-timeout) of C(snapshot save) (big databases need minutes).
    type: str
    default: 600s
"""

EXAMPLES = r"""
- name: Daily snapshot, keep a week
  groundwork.k8s.etcd_snapshot:
    dest_dir: /var/backups/etcd
    keep: 7
    endpoints: "{{ etcd_client_urls }}"
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key
  register: snap

- name: Stacked etcd, at most one snapshot per hour
  groundwork.k8s.etcd_snapshot:
    dest_dir: /var/backups/etcd
    max_age: 3600
    endpoints: ["https://{{ ansible_default_ipv4.address }}:2379"]
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key
"""

RETURN = r"""
path:
  description: The snapshot (new, or the recent one that satisfied O(max_age)/O(path)).
  returned: success
  type: str
metadata:
  description: Content of the metadata file (revision, total_keys, db_size, hash, sha256, cluster_id_hex, etcd_version, created ...).
  returned: success
  type: dict
pruned:
  description: Snapshots deleted (or that would be) by retention.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._etcd import (
    connection_argspec, etcd_from_params, fail, module_runner, snapshot_plan)


def main():
    module = AnsibleModule(
        argument_spec=connection_argspec(
            state={"type": "str", "choices": ["present"], "default": "present"},
            dest_dir={"type": "path"},
            path={"type": "path"},
            prefix={"type": "str", "default": "etcd-snapshot-"},
            keep={"type": "int", "default": 7},
            max_age={"type": "int", "default": 0},
            endpoint={"type": "str"},
            trial_restore={"type": "bool", "default": True},
            save_timeout={"type": "str", "default": "600s"},
        ),
        required_one_of=[("dest_dir", "path")],
        supports_check_mode=True,
    )
    p = module.params
    etcd = etcd_from_params(p, module_runner(module))
    try:
        plan = snapshot_plan(p["dest_dir"], p["path"], p["prefix"], p["keep"], p["max_age"])
        meta, path, took = plan["current_metadata"], plan["current"], plan["take"]
        before = plan["before"]
        if took and not module.check_mode:
            directory = os.path.dirname(plan["target"])
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700)
            meta = etcd.save_verified(plan["target"], endpoint=p["endpoint"], trial_restore=p["trial_restore"],
                                      command_timeout=p["save_timeout"], atomic_move=module.atomic_move)
            path = plan["target"]
            plan = snapshot_plan(p["dest_dir"], path, p["prefix"], p["keep"], 0, taking=False)
        pruned = plan["prune"]
        if pruned and not module.check_mode:
            for victim in pruned:
                for f in (victim, victim + ".json"):
                    if os.path.exists(f):
                        os.unlink(f)
    except GroundworkError as exc:
        fail(module, exc)
    if module.check_mode and took:
        path = plan["target"]
    module.exit_json(changed=bool(took or pruned), path=path,
                     metadata=meta or {}, pruned=pruned,
                     diff={"before": {"snapshots": before}, "after": {"snapshots": plan["after"]}})


if __name__ == "__main__":
    main()
