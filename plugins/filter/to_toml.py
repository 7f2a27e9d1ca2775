# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: to_toml
short_description: Render a dict as TOML (containerd configuration)
version_added: 0.1.0
author: Groundwork maintainers
description:
  - Writes a dict as a TOML document - nested dicts become tables (C([a.b."c.d"])), lists become
    inline arrays, dicts inside lists inline tables.
  - Keys whose value is C(null) are left out, so a user override can remove a default key.
  - Output is stable (keys keep their order), so a re-run renders the same bytes.
options:
  _input:
    description: The document.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Render containerd's config from data
  ansible.builtin.copy:
    content: "{{ {'version': 2, 'plugins': {'io.containerd.grpc.v1.cri': {'sandbox_image': 'registry.k8s.io/pause:3.10.1'}}} | groundwork.k8s.to_toml }}"
    dest: /etc/containerd/config.toml
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The TOML text, ending in a newline.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._toml import dumps


def to_toml(data):
    """Render ``data`` as TOML; see DOCUMENTATION."""
    try:
        return dumps(_plain(data))
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg) from exc


def _plain(value):
    """Ansible's lazy/tagged containers and scalars -> plain Python types."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "items"):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class FilterModule(object):
    """TOML rendering."""

    def filters(self):
        return {"to_toml": to_toml}
