# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: access_plan
short_description: RBAC objects from inventory data, and what to apply, recreate and delete
version_added: 0.2.0
author: Groundwork maintainers
description:
  - Turns the inventory's cluster roles, roles and bindings into RBAC manifests, each labelled
    C(access.groundwork.k8s/owner=<owner>) and C(app.kubernetes.io/managed-by=groundwork).
  - Compares them with the RBAC objects the API server lists. Owned bindings whose roleRef changed are
    recreated (roleRef is immutable); owned objects no longer in the data are deleted (with O(prune)); an object of
    the same kind and name that another owner (or nobody) labelled is an error, never taken over.
  - Runs on the controller only.
options:
  _input:
    description: Dict with the lists C(cluster_roles), C(roles) and C(bindings) (see C(docs/access.md)).
    type: dict
    required: true
  existing:
    description: Every ClusterRole, Role, ClusterRoleBinding and RoleBinding of the cluster (k8s_info resources).
    type: list
    elements: dict
    required: true
  owner:
    description: The owner label value of this inventory's objects.
    type: str
    required: true
  prune:
    description: Delete owned objects that left the data.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Plan the RBAC objects
  ansible.builtin.set_fact:
    access: >-
      {{ {'cluster_roles': access_cluster_roles, 'roles': access_roles, 'bindings': access_bindings}
         | groundwork.k8s.access_plan(existing_objects, 'site-a') }}
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    errors:
      description: One line per problem with what to change; when not empty the other lists are empty.
      type: list
      elements: str
    apply:
      description: Manifests to apply (server-side), roles before bindings.
      type: list
      elements: dict
    recreate:
      description: Owned bindings to delete before the apply (their roleRef changed).
      type: list
      elements: dict
    delete:
      description: Owned objects that left the data (bindings first).
      type: list
      elements: dict
    summary:
      description: One line per action.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils._access import access_plan as _access_plan
from ansible_collections.groundwork.k8s.plugins.module_utils._access import binding_rows as _binding_rows


def access_plan(data, existing, owner, prune=True):
    """See DOCUMENTATION."""
    if not hasattr(data, "get") or not isinstance(existing, list):
        raise AnsibleFilterError("access_plan expects a dict of access data and a list of existing objects: "
                                 "data | groundwork.k8s.access_plan(existing, owner)")
    return _access_plan(dict(data), list(existing), owner, bool(prune))


def access_binding_rows(bindings):
    """ClusterRoleBindings/RoleBindings (k8s_info resources) -> one sorted line each: who is bound to what."""
    if not isinstance(bindings, list):
        raise AnsibleFilterError("access_binding_rows expects a list of bindings")
    return _binding_rows(bindings)


class FilterModule(object):
    """RBAC from the inventory."""

    def filters(self):
        return {"access_plan": access_plan, "access_binding_rows": access_binding_rows}
