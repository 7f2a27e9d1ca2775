#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_restore
short_description: Put back the certificates, keys and kubeconfigs a renewal or CA rotation replaced on one node
version_added: 0.1.0
description:
  - M(groundwork.k8s.cert_renewal) and M(groundwork.k8s.ca_rotation) copy every file they replace into a
    timestamped directory under O(backup_root) (absolute paths kept). This module writes each file of one
    such backup back to where it came from.
  - A restored file keeps the live file's mode, owner and group (the backup copies are all root-owned
    C(0600); etcd reads its keys as the C(etcd) user); a file that no longer exists comes back C(0600).
    Each file is written through a temporary file and an atomic move.
  - Files that already hold the backup's content are left alone, so a second run changes nothing.
  - It does not restart anything; C(playbooks/restore_certs.yml) restarts what uses the restored files
    and checks the node's health.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff lists the files that are (or would be) put back, never their content.
  idempotent:
    support: full
options:
  backup:
    description:
      - Name of the backup directory under O(backup_root) (C(rotate_certs.yml) and C(rotate_ca.yml) print it),
        or C(latest) for the newest one on this node.
    type: str
    required: true
  backup_root:
    description: Parent of the timestamped backup directories.
    type: path
    default: /var/backups/groundwork/certs
seealso:
  - module: groundwork.k8s.cert_renewal
  - module: groundwork.k8s.ca_rotation
"""

EXAMPLES = r"""
- name: Put back what the last renewal replaced
  groundwork.k8s.cert_restore:
    backup: latest
  register: restored

- name: Put back one named backup
  groundwork.k8s.cert_restore:
    backup: 20261121T221500Z-renew
"""

RETURN = r"""
backup_dir:
  description: The backup directory the files came from.
  returned: success
  type: str
  sample: /var/backups/groundwork/certs/20261121T221500Z-renew
restored:
  description: Files put back (in check mode, that would be put back), sorted.
  returned: success
  type: list
  elements: str
  sample: ["/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/pki/apiserver.key"]
files:
  description: Every file the backup holds, sorted.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation_host as H
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup=dict(type="str", required=True),
            backup_root=dict(type="path", default="/var/backups/groundwork/certs"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        backup_dir = H.find_backup(p["backup_root"], p["backup"])
        files = H.backup_manifest(backup_dir)
        restored = H.restore_backup(backup_dir, check_mode=module.check_mode, atomic_move=module.atomic_move, files=files)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    result = dict(changed=bool(restored), backup_dir=backup_dir, restored=restored, files=files)
    if module._diff and restored:
        result["diff"] = {"before_header": "live files", "after_header": backup_dir,
                          "before": "", "after": "".join("%s\n" % f for f in restored)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
