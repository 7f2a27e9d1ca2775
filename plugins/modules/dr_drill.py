#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dr_drill
short_description: Disaster-recovery drill - restore the newest backup bundle into a throwaway etcd and read it
version_added: 0.1.0
description:
  - Opens the newest backup bundle in O(bundle_dir) (HMAC checked, decrypted with the backup key, every file's
    sha256 checked), restores its snapshot into a temporary data directory, starts a throwaway etcd on
    C(127.0.0.1) (free ports, no TLS, no peers), counts the keys and reads the revision, and decrypts one Secret
    with the encryption configuration the bundle carries (C(aescbc) through the openssl CLI, C(secretbox) in
    Python, C(identity)), then stops that etcd and deletes every temporary file.
  - Writes the result for node-exporter's textfile collector to O(metrics_file)
    (C(groundwork_dr_drill_last_success_timestamp_seconds), C(groundwork_dr_drill_last_result) 1 or 0,
    C(groundwork_dr_drill_keys)) and a JSON report to O(report_file), also when the drill fails (result 0, the
    last success time kept), then fails with the reason.
  - The production cluster is never contacted.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing runs; the module reports that a drill would run.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run is a new drill and rewrites the metrics and report.
options:
  bundle_dir:
    description: Directory of the cluster's bundles on the backup host (C(<remote dir>/<cluster name>)).
    type: path
    required: true
  key_file:
    description: Root-only file holding the backup encryption key (the caller writes it 0600 and removes it).
    type: path
    required: true
  secret:
    description: C(namespace/name) of the Secret to decrypt; empty takes the first Secret in etcd.
    type: str
    default: ''
  etcd_binary:
    description: The etcd server binary for the throwaway member.
    type: path
    default: /usr/local/bin/etcd
  etcdctl:
    description: etcdctl binary.
    type: path
    default: /usr/local/bin/etcdctl
  etcdutl:
    description: etcdutl binary (3.5+); etcdctl restores when it is absent.
    type: path
    default: /usr/local/bin/etcdutl
  metrics_file:
    description: Textfile-collector file to write (atomically, mode 0644).
    type: path
    default: /var/lib/node_exporter/textfile_collector/groundwork_dr_drill.prom
  report_file:
    description: JSON report of the last drill (atomically, mode 0600).
    type: path
    default: /var/lib/groundwork/dr-drill.json
  workdir:
    description: Parent of the temporary directory (decrypted bundle and restored data; deleted after).
    type: path
requirements:
  - openssl CLI and PyYAML on the backup host; the etcd, etcdctl (and etcdutl) binaries.
"""

EXAMPLES = r"""
- name: Drill the newest bundle
  groundwork.k8s.dr_drill:
    bundle_dir: /var/backups/groundwork/etcd/prod
    key_file: "{{ tmp.path }}/key"
    secret: kube-system/bootstrap-token-abcdef
  register: drill
"""

RETURN = r"""
report:
  description: >-
    The drill's report - C(ok), C(bundle), C(keys), C(revision), C(snapshot) (metadata of the bundle),
    C(secret) (C(namespace), C(name), C(etcd_key), C(provider), C(key_name) and C(data_sha256), the sha256 of each
    data value; values are never returned), C(seconds), C(error) on failure.
  returned: always
  type: dict
line:
  description: One report line, for logs and AWX job output.
  returned: always
  type: str
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils import _dr, _etcd_backup
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def report_line(report):
    if report.get("ok"):
        s = report.get("secret") or {}
        return ("DR drill PASSED: bundle %s restored into a throwaway etcd in %ss: %s keys, revision %s; Secret %s/%s "
                "decrypted with %s key %s (%d data keys)" % (report["bundle"], report.get("seconds"), report.get("keys"),
                                                             report.get("revision"), s.get("namespace"), s.get("name"),
                                                             s.get("provider"), s.get("key_name"), len(s.get("data_sha256") or {})))
    return "DR drill FAILED: %s (bundle %s)" % (report.get("error"), report.get("bundle", "none"))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bundle_dir=dict(type="path", required=True),
            key_file=dict(type="path", required=True, no_log=False),
            secret=dict(type="str", default="", no_log=False),  # a Secret's name, not a secret
            etcd_binary=dict(type="path", default="/usr/local/bin/etcd"),
            etcdctl=dict(type="path", default="/usr/local/bin/etcdctl"),
            etcdutl=dict(type="path", default="/usr/local/bin/etcdutl"),
            metrics_file=dict(type="path", default="/var/lib/node_exporter/textfile_collector/groundwork_dr_drill.prom"),
            report_file=dict(type="path", default="/var/lib/groundwork/dr-drill.json"),
            workdir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=True, report={}, line="DR drill would run on the newest bundle in %s" % p["bundle_dir"])
    try:
        import yaml
    except ImportError:
        module.fail_json(msg="the DR drill needs PyYAML on the backup host (python3-yaml)")
    drill = _dr.Drill(p["etcd_binary"], p["etcdctl"], p["etcdutl"])
    try:
        report = _dr.run_drill(drill, p["bundle_dir"], p["key_file"], p["secret"], p["workdir"],
                               open_bundle=_etcd_backup.open_bundle, load_yaml=yaml.safe_load)
    except (GroundworkError, OSError, ValueError, KeyError) as exc:
        report = {"ok": False, "error": getattr(exc, "msg", None) or str(exc)}
        try:
            report["bundle"] = os.path.basename(_dr.newest_bundle(p["bundle_dir"]))
        except GroundworkError:
            pass
    now = time.time()
    report["finished"] = int(now)
    previous = ""
    if os.path.exists(p["metrics_file"]):
        with open(p["metrics_file"]) as f:
            previous = f.read()
    _dr.write_text_atomic(p["metrics_file"], _dr.drill_metrics(report, now, previous), 0o644)
    _dr.write_text_atomic(p["report_file"], json.dumps(report, indent=2, sort_keys=True) + "\n", 0o600)
    line = report_line(report)
    if not report.get("ok"):
        module.fail_json(msg=line, report=report, line=line)
    module.exit_json(changed=True, report=report, line=line)


if __name__ == "__main__":
    main()
