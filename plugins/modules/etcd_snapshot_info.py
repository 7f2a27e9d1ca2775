#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_snapshot_info
short_description: Verify an existing etcd snapshot and report its metadata
version_added: 0.1.0
description:
  - Verifies a snapshot file the way M(groundwork.k8s.etcd_snapshot) does - our sha256 against
    the metadata file when there is one, the sha256 etcd appended, C(snapshot status) (a panic or
    non-zero exit means corrupt) and, with O(trial_restore=true), a trial restore into a
    temporary directory.
  - Fails with a message naming the problem when the snapshot is missing, truncated or corrupt,
    or, with O(expected_cluster_ids), when it was taken from another cluster.
  - Needs no running etcd - it runs C(etcdutl) (3.5+) or C(etcdctl) (3.4) offline.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.etcd
  - groundwork.k8s.attributes
  - groundwork.k8s.attributes.INFO_MODULE
options:
  path:
    description: The snapshot. Without it, the newest C(<prefix>*.db) in O(dest_dir).
    type: path
  dest_dir:
    description: Directory to take the newest snapshot from when O(path) is not given.
    type: path
  prefix:
    description: File name prefix of snapshots in O(dest_dir).
    type: str
    default: etcd-snapshot-
  trial_restore:
    description: Also restore into a temporary directory (the only check that reads every page).
    type: bool
    default: true
  checks:
    description:
      - V(full) runs every check. V(hash) is for a copy of a snapshot already verified in full - when its
        metadata records the sha256 of the file verified at save time, one read proves the copy has the same
        bytes and etcd's appended sha256 holds; C(snapshot status) and the trial restore are not repeated
        (revision and key count come from the metadata). Without a recorded sha256 the full checks run.
      - playbooks/restore.yml verifies in full on the first member and by hash on the others.
    type: str
    choices: [full, hash]
    default: full
  require_metadata:
    description: Fail when the metadata file C(<snapshot>.json) is missing.
    type: bool
    default: false
  expected_cluster_ids:
    description:
      - Cluster IDs (hex) this cluster has had. When given, the snapshot's metadata must name one
        of them, so a snapshot from another cluster is refused.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Check the snapshot before stopping anything
  groundwork.k8s.etcd_snapshot_info:
    path: /var/backups/etcd/etcd-snapshot-20261121T220000000000Z.db
    expected_cluster_ids: "{{ etcd_cluster_ids }}"
    etcdctl: /usr/local/bin/etcdctl
  register: snap
"""

RETURN = r"""
path:
  description: The snapshot verified.
  returned: success
  type: str
verified:
  description: Result of the checks (C(revision), C(total_keys), C(total_size), C(hash), C(sha256), C(size), C(trial_restore)).
  returned: success
  type: dict
metadata:
  description: The metadata file beside the snapshot (empty when absent).
  returned: success
  type: dict
cluster_id_hex:
  description: Cluster ID recorded in the metadata.
  returned: when metadata exists
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._etcd import (
    check_snapshot, connection_argspec, etcd_from_params, fail, module_runner)


def main():
    module = AnsibleModule(
        argument_spec=connection_argspec(
            path={"type": "path"},
            dest_dir={"type": "path"},
            prefix={"type": "str", "default": "etcd-snapshot-"},
            trial_restore={"type": "bool", "default": True},
            checks={"type": "str", "default": "full", "choices": ["full", "hash"]},
            require_metadata={"type": "bool", "default": False},
            expected_cluster_ids={"type": "list", "elements": "str", "default": []},
        ),
        required_one_of=[("path", "dest_dir")],
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = check_snapshot(etcd_from_params(p, module_runner(module)), p["path"], p["dest_dir"], p["prefix"],
                                p["trial_restore"], p["require_metadata"], p["expected_cluster_ids"], p["checks"])
    except GroundworkError as exc:
        fail(module, exc)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
