# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: calico_manifest
short_description: Render upstream's Calico manifest for this cluster from data
version_added: 0.1.0
description:
  - Parses the upstream C(calico.yaml) (all documents) and sets, as data, the calico-node container's
    C(CALICO_IPV4POOL_CIDR) (or C(CALICO_IPV6POOL_CIDR)) to the pod subnet, the pool block size when given and any
    extra environment; pins every container image to its digest from the artifact manifest's release.
  - Fails, naming what to set, when the pod subnet is not a network, the manifest has no calico-node DaemonSet, or an
    image has no digest in the artifact manifest. The rendered documents are read back and checked (pool CIDR, every
    image by digest) before they are returned.
author:
  - Groundwork maintainers (@groundwork)
positional: pod_subnet, manifest, kubernetes_version
options:
  _input:
    description: Upstream C(calico.yaml) (text).
    type: str
    required: true
  pod_subnet:
    description: The cluster's pod subnet (CIDR).
    type: str
    required: true
  manifest:
    description: The artifact manifest (data); its release's images give the digests.
    type: dict
    required: true
  kubernetes_version:
    description: Kubernetes version of the cluster (selects the manifest release).
    type: str
    required: true
  node_env:
    description: Extra calico-node environment (name to value), e.g. C(IP_AUTODETECTION_METHOD).
    type: dict
    default: {}
  block_size:
    description: Pool block size (C(CALICO_IPV4POOL_BLOCK_SIZE)); omit for upstream's default.
    type: int
"""

EXAMPLES = r"""
- name: Render Calico
  ansible.builtin.set_fact:
    calico: "{{ pristine | groundwork.k8s.calico_manifest('10.244.0.0/16', manifest, 'v1.33.3') }}"
"""

RETURN = r"""
_value:
  description: The rendered manifest (multi-document YAML text).
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _addons
from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def calico_manifest(text, pod_subnet, manifest, kubernetes_version, node_env=None, block_size=None):
    import yaml

    try:
        rel = A.release_for(A.load_manifest(manifest), kubernetes_version)
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg)
    images = {A.image_ref(i): i["digest"] for i in rel.get("images") or [] if i.get("digest")}
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise AnsibleFilterError("the Calico manifest is not YAML: %s" % exc)
    out, errors = _addons.render_calico(docs, pod_subnet, images, node_env or {}, block_size)
    if errors:
        raise AnsibleFilterError("Calico manifest refused:\n- " + "\n- ".join(errors))
    rendered = "".join("---\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in out)
    back = [d for d in yaml.safe_load_all(rendered) if d]
    problems = _addons.check_rendered_calico(back, pod_subnet)
    if problems:
        raise AnsibleFilterError("the rendered Calico manifest is not what the inventory asks for: " + "; ".join(problems))
    return rendered


class FilterModule(object):
    def filters(self):
        return {"calico_manifest": calico_manifest}
