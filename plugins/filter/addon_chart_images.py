# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: addon_chart_images
short_description: The images of the charts a bundle carries
version_added: 0.1.0
description:
  - Given the bundle's artifact manifest and its chart repository index (C(charts/index.yaml) as data), returns the
    images of the charts the index lists, one per image reference, each with C(repository) (the path on the site
    registry). Only images with a digest are returned (a bundle cannot carry the others).
author:
  - Groundwork maintainers (@groundwork)
positional: index
options:
  _input:
    description: The artifact manifest (data).
    type: dict
    required: true
  index:
    description: The bundle's chart repository index (data); empty for a bundle without charts.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Chart images to load into the registry
  ansible.builtin.set_fact:
    images: "{{ manifest | groundwork.k8s.addon_chart_images(index) }}"
"""

RETURN = r"""
_value:
  description: Image entries (name, image, tag, digest, repository).
  type: list
  elements: dict
"""

from ansible_collections.groundwork.k8s.plugins.module_utils import _addons
from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A


def addon_chart_images(manifest, index):
    carried = {(name, str(v.get("version"))) for name, versions in ((index or {}).get("entries") or {}).items()
               for v in versions}
    out = {}
    for rel in (manifest.get("releases") or {}).values():
        for c in _addons.charts_of(rel):
            if (c["name"], str(c["version"])) not in carried:
                continue
            for img in c.get("images") or []:
                if img.get("digest"):
                    item = dict(img, repository=A.registry_repo(img))
                    out.setdefault(A.image_ref(img), item)
    return [out[k] for k in sorted(out)]


class FilterModule(object):
    def filters(self):
        return {"addon_chart_images": addon_chart_images}
