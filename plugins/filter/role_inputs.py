# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: role_inputs
short_description: Check every role input the inventory sets against the roles' argument specs
version_added: 0.1.0
author: Groundwork maintainers
description:
  - Reads each host's variables as set (inventory, group/host vars, extra vars; templates are not rendered)
    and checks, with Ansible's own C(ArgumentSpecValidator), every variable whose name is an option of a
    collection role's C(main) entry point against that option, and every C(groundwork_*) global against the
    option of each role variable it feeds (a role default that is exactly the global, with or without a
    C(default) filter), naming the global the user set.
  - A string where the spec wants a list, or a list/dict where it wants a string, is refused (the role gets the
    raw variable; Ansible's validator would convert it only for the check). Values that are still Jinja
    templates are skipped. Top-level C(required) is not checked (defaults and plays may give those).
  - The role specs and the global-to-role-variable map are read at run time from the collection's
    C(roles/*/meta/argument_specs.yml) and C(roles/*/defaults/main.yml), so they cannot go stale.
  - Runs on the controller only; it touches no host. Preflight uses it before any host is contacted.
options:
  _input:
    description: The C(hostvars) magic variable (or a dict of host name to its variables).
    type: dict
    required: true
  hosts:
    description: The hosts whose variables are checked (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  known_errors:
    description:
      - Problems already reported (the C(groundwork.k8s.topology) errors); a variable such a line starts with is
        not reported a second time.
    type: list
    elements: str
    default: []
  roles_dir:
    description: The roles directory to read; default the collection's own C(roles/).
    type: path
"""

EXAMPLES = r"""
- name: Check the role inputs before any host changes
  ansible.builtin.set_fact:
    role_inputs: "{{ hostvars | groundwork.k8s.role_inputs(ansible_play_hosts_all, known_errors=topology.errors) }}"
  run_once: true

- name: Stop on any problem
  ansible.builtin.fail:
    msg: "{{ role_inputs.errors }}"
  run_once: true
  when: role_inputs.errors | length > 0
"""

RETURN = r"""
_value:
  description: The result of the checks.
  type: dict
  contains:
    errors:
      description:
        - One line per problem, naming the variable the user set (and for a global the role variables it feeds),
          the hosts when not every host has it, and ending with C(Fix:) and what to change. Empty when all is valid.
      type: list
      elements: str
    checked:
      description: The variables that were checked (set on some host as literals, known to a role spec).
      type: list
      elements: str
"""

import os

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils._argspec import check_role_inputs, load_roles

_ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")


def role_inputs(hostvars, hosts, known_errors=None, roles_dir=None):
    """Check the role inputs set on ``hosts``; see DOCUMENTATION."""
    if not hasattr(hostvars, "get") and not hasattr(hostvars, "raw_get"):
        raise AnsibleFilterError("role_inputs expects the hostvars magic variable: "
                                 "hostvars | groundwork.k8s.role_inputs(ansible_play_hosts_all)")
    if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("role_inputs: hosts must be a list of host names (ansible_play_hosts_all)")
    roles_dir = roles_dir or _ROLES_DIR
    if not os.path.isdir(roles_dir):
        raise AnsibleFilterError("role_inputs: no roles directory at %s" % roles_dir)
    data = load_roles(roles_dir)
    return check_role_inputs(hostvars, hosts, data["specs"], data["defaults"], known_errors=list(known_errors or []))


class FilterModule(object):
    """Role input checks."""

    def filters(self):
        return {"role_inputs": role_inputs}
