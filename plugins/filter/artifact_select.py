# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: artifact_select
short_description: Pick the artifact manifest entries a host needs, with the URL to fetch each from
version_added: 0.1.0
description:
  - Validates the artifact manifest, selects the release whose C(kubernetes_version) is exactly
    O(kubernetes_version) (another patch of the same minor is refused, naming the versions the manifest has), and the
    file entries named in O(names) for O(arch), and adds C(fetch_url) (the mirror copy when
    O(mirror_url) is set, the upstream URL otherwise) and C(checksum) (C(sha256:...) for
    M(ansible.builtin.get_url)).
  - Fails naming every unknown artifact, and every selected one whose sha256 the manifest does not have.
author:
  - Groundwork maintainers (@groundwork)
positional: kubernetes_version, arch, names, mirror_url
options:
  _input:
    description: The artifact manifest (data).
    type: dict
    required: true
  kubernetes_version:
    description: Kubernetes version of the run; the manifest must have a release of exactly this version.
    type: str
    required: true
  arch:
    description: Architecture (V(amd64), V(arm64), or Ansible's V(x86_64), V(aarch64)).
    type: str
    required: true
  names:
    description: Names of the files needed.
    type: list
    elements: str
    required: true
  mirror_url:
    description: Base URL of the site mirror; empty for upstream URLs (connected installs).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Entries for etcd and runc from the site mirror
  ansible.builtin.set_fact:
    wanted: "{{ manifest | groundwork.k8s.artifact_select('v1.35.0', ansible_facts.architecture, ['etcd', 'runc'], 'http://mirror:8080') }}"
"""

RETURN = r"""
_value:
  description: The manifest's file entries, each with C(fetch_url) and C(checksum) added.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def artifact_select(manifest, kubernetes_version, arch, names, mirror_url=""):
    try:
        entries = A.select_files(A.load_manifest(manifest), kubernetes_version, arch, list(names))
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg)
    todo = ["%s (%s)" % (e["name"], e.get("todo", "no sha256")) for e in entries if not e.get("sha256")]
    if todo:
        raise AnsibleFilterError("refusing artifacts without a sha256 in the manifest: %s. Fix: regenerate the manifest "
                                 "with checksums (python3 scripts/gen-manifest.py on a connected machine, see "
                                 "docs/install.md)" % "; ".join(todo))
    out = []
    for e in entries:
        item = dict(e)
        item["fetch_url"] = (mirror_url.rstrip("/") + "/" + e["path"]) if mirror_url else e["url"]
        item["checksum"] = "sha256:" + e["sha256"]
        out.append(item)
    return out


def artifact_image_ref(manifest, name, kubernetes_version, default=""):
    """``image:tag`` of the manifest's image ``name`` for the release of ``kubernetes_version``; ``default``
    when the manifest has no such release or image (e.g. an inventory on its own manifest without it).

    Matched by minor, not exact version: a reference name that does not change within a minor (the pause
    image), used also where the binaries do not come from the manifest (kubernetes_binaries_source: url)."""
    try:
        return A.image_ref(A.select_images(A.load_manifest(manifest), kubernetes_version, [name], exact=False)[0])
    except GroundworkError as exc:
        if default:
            return default
        raise AnsibleFilterError(exc.msg)


class FilterModule(object):
    def filters(self):
        return {"artifact_select": artifact_select, "artifact_image_ref": artifact_image_ref}
