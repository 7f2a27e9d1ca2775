# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: oidc_authentication_config
short_description: The API server's structured authentication configuration from the inventory's OIDC issuers
version_added: 0.2.0
author: Groundwork maintainers
description:
  - Validates C(groundwork_oidc_issuers) and renders an C(apiserver.config.k8s.io) C(AuthenticationConfiguration)
    with one JWT authenticator per issuer (issuer URL, audiences, CA, claim mappings for username, groups and uid
    with prefixes, required claims). C(v1beta1) before Kubernetes v1.34, C(v1) from it.
  - Every authenticator refuses C(system:) user names and groups (C(userValidationRules)), so no token can claim
    C(system:masters).
  - A C(ca_file) is read on the controller (absolute path). No issuers give an empty C(jwt) list.
  - Runs on the controller only. Returns the problems instead of raising, each naming the variable and the fix.
options:
  _input:
    description: The issuers (C(groundwork_oidc_issuers)), see C(docs/access.md).
    type: list
    elements: dict
    required: true
  kubernetes_version:
    description: The cluster's Kubernetes version (v1.30 or later for issuers).
    type: str
    required: true
  service_account_issuer:
    description: The cluster's service-account issuer URL, which no OIDC issuer may reuse.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Render the authentication configuration
  ansible.builtin.set_fact:
    authn: "{{ groundwork_oidc_issuers | groundwork.k8s.oidc_authentication_config('v1.33.3') }}"
"""

RETURN = r"""
_value:
  description: The result.
  type: dict
  contains:
    config:
      description: The AuthenticationConfiguration (None when there are errors).
      type: dict
    errors:
      description: One line per problem with what to change.
      type: list
      elements: str
    supported:
      description: Whether the version reads C(--authentication-config) (v1.30 or later); the file is written then.
      type: bool
    issuers:
      description: The issuer URLs, in order.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils._oidc import authentication_config, reload_status, supported


def oidc_authentication_config(issuers, kubernetes_version, service_account_issuer=""):
    """See DOCUMENTATION."""
    if issuers is not None and not isinstance(issuers, list):
        raise AnsibleFilterError("groundwork_oidc_issuers must be a list of issuers ({name, url, audiences, ...})")
    config, errors = authentication_config(list(issuers or []), str(kubernetes_version), str(service_account_issuer or ""))
    return {"config": config, "errors": errors, "supported": supported(kubernetes_version),
            "issuers": [a["issuer"]["url"] for a in (config or {}).get("jwt", [])]}


def oidc_reload_status(metrics_text, written_at):
    """kube-apiserver /metrics text, file mtime -> 'success', 'failure' or 'pending' (its last reload is older)."""
    return reload_status(str(metrics_text or ""), float(written_at or 0))


class FilterModule(object):
    """OIDC issuers."""

    def filters(self):
        return {"oidc_authentication_config": oidc_authentication_config, "oidc_reload_status": oidc_reload_status}
