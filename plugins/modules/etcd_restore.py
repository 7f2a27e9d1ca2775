#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_restore
short_description: Restore one etcd member's data dir from a snapshot
version_added: 0.1.0
description:
  - Restores O(snapshot) into a fresh data dir for one member. Run it on B(every) member with the
    B(same) snapshot, O(initial_cluster) and O(initial_cluster_token), with etcd stopped.
  - Uses C(etcdutl snapshot restore) when C(etcdutl) is present (3.5+, the only way on 3.6) and
    C(etcdctl snapshot restore) on 3.4. Where the tool supports it, the revision is bumped
    (C(--bump-revision --mark-compacted)) so watchers such as the API server's caches notice.
  - Verifies the snapshot first (see M(groundwork.k8s.etcd_snapshot_info)); nothing is moved when it
    is corrupt.
  - The old data dir is B(moved aside) (C(<data_dir>.groundwork-old-<time>)), never deleted. A
    half-restored dir left by a failed attempt (C(member/snap/db) without C(member/wal)) is
    detected and moved aside as C(<data_dir>.groundwork-failed-restore-<time>).
  - The restore is staged in C(<data_dir>.groundwork-restoring) and renamed into place, so a
    failure never leaves a half-restored O(data_dir). When O(data_dir) is a mount point it is
    staged inside it.
  - A marker C(<data_dir>.groundwork-restore.json) records what was restored; running again
    with the same snapshot and cluster reports no change unless O(force=true).
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
  snapshot:
    description: The snapshot file on this host.
    type: path
    required: true
  data_dir:
    description: The member's data dir (C(--data-dir) of etcd, C(/var/lib/etcd) for kubeadm).
    type: path
    required: true
  name:
    description: This member's name (C(--name)).
    type: str
    required: true
  initial_cluster:
    description: C(name=peerURL,...) of all members; the same string on every member.
    type: str
    required: true
  peer_urls:
    description: This member's peer URLs (C(--initial-advertise-peer-urls)).
    type: list
    elements: str
    required: true
  initial_cluster_token:
    description: C(--initial-cluster-token); the same on every member (kubeadm does not set one, so C(etcd-cluster)).
    type: str
    default: etcd-cluster
  bump_revision:
    description: Revision bump when the restore tool supports it (etcdutl 3.5.x recent); C(0) disables it.
    type: int
    default: 1000000000
  owner:
    description: User that owns the restored tree (the user etcd runs as).
    type: str
  group:
    description: Group of the restored tree.
    type: str
  verify:
    description: Verify the snapshot before touching anything.
    type: bool
    default: true
  trial_restore:
    description: Part of O(verify) - trial restore into a temporary directory first.
    type: bool
    default: false
  force:
    description: Restore even when the marker says this snapshot was already restored here.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Restore this member (etcd is stopped)
  groundwork.k8s.etcd_restore:
    snapshot: /var/lib/groundwork/restore/snapshot.db
    data_dir: /var/lib/etcd
    name: "{{ inventory_hostname }}"
    peer_urls: ["https://{{ ansible_host }}:2380"]
    initial_cluster: "etcd1=https://10.0.0.11:2380,etcd2=https://10.0.0.12:2380,etcd3=https://10.0.0.13:2380"
    initial_cluster_token: groundwork-etcd
    owner: etcd
    group: etcd
"""

RETURN = r"""
moved_aside:
  description: Directories moved aside (C(from), C(to), C(kind) - C(member), C(half-restored), C(other)).
  returned: always
  type: list
  elements: dict
argv:
  description: The restore command run.
  returned: when restored
  type: list
  elements: str
tool:
  description: C(etcdutl) or C(etcdctl).
  returned: always
  type: str
bump_revision:
  description: Whether the revision was bumped.
  returned: always
  type: bool
verified:
  description: Result of the snapshot verification.
  returned: when O(verify=true)
  type: dict
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._etcd import (
    connection_argspec, etcd_from_params, fail, file_hashes, module_runner, restore_member, restore_plan)


def main():
    module = AnsibleModule(
        argument_spec=connection_argspec(
            snapshot={"type": "path", "required": True},
            data_dir={"type": "path", "required": True},
            name={"type": "str", "required": True},
            initial_cluster={"type": "str", "required": True},
            peer_urls={"type": "list", "elements": "str", "required": True},
            initial_cluster_token={"type": "str", "default": "etcd-cluster", "no_log": False},
            bump_revision={"type": "int", "default": 1000000000},
            owner={"type": "str"},
            group={"type": "str"},
            verify={"type": "bool", "default": True},
            trial_restore={"type": "bool", "default": False},
            force={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    p = module.params
    etcd = etcd_from_params(p, module_runner(module))
    result = {"moved_aside": [], "tool": None, "bump_revision": False}
    try:
        result["tool"] = etcd.versions()["restore_tool"]
        result["bump_revision"] = bool(p["bump_revision"]) and etcd.supports_bump_revision()
        if p["verify"]:
            result["verified"] = etcd.verify_snapshot(p["snapshot"], trial_restore=p["trial_restore"])
        sha = result["verified"]["sha256"] if p["verify"] else file_hashes(p["snapshot"])["sha256"]
        marker = {"snapshot_sha256": sha, "name": p["name"], "initial_cluster": p["initial_cluster"],
                  "initial_cluster_token": p["initial_cluster_token"]}
        plan = restore_plan(p["data_dir"], marker, p["force"])
        owner = None
        if p["owner"]:
            pw = pwd.getpwnam(p["owner"])
            owner = (pw.pw_uid, grp.getgrnam(p["group"]).gr_gid if p["group"] else pw.pw_gid)
        if plan["restore"] and not module.check_mode:
            done = restore_member(etcd, p["snapshot"], p["data_dir"], p["name"], p["initial_cluster"],
                                  p["peer_urls"], p["initial_cluster_token"], p["bump_revision"], marker, owner)
            result.update(moved_aside=done["moved"], argv=done["argv"])
        elif plan["restore"]:
            result["moved_aside"] = [{"from": s, "to": d, "kind": k} for s, k, d in plan["moves"]]
    except (GroundworkError, KeyError) as exc:
        fail(module, exc if isinstance(exc, GroundworkError) else GroundworkError("unknown user/group: %s" % exc),
             **result)
    after = "restored from %s" % sha[:12] if plan["restore"] else plan["data_dir_kind"]
    module.exit_json(changed=plan["restore"], diff={"before": {"data_dir": plan["data_dir_kind"]},
                                                    "after": {"data_dir": after}}, **result)


if __name__ == "__main__":
    main()
