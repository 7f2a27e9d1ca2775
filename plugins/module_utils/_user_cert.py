# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Short-lived user client certificates from the cluster CA, and the user kubeconfig around them.

The user's key is made where the kubeconfig is written (the controller); only its public key goes to the
control plane, which signs it with ``ca.key`` (the CA key never leaves the control plane).
"""

from __future__ import annotations

import datetime
import os

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

# Groups that bypass RBAC (cannot be revoked by removing bindings) or belong to Kubernetes components.
PRIVILEGED_GROUPS = ("system:masters",)
MAX_VALIDITY_HOURS = 24 * 31
SKEW = datetime.timedelta(minutes=5)


def check_identity(user, groups, allow_system_masters=False):
    """Refuse names the API server would treat specially; return the groups as a sorted tuple."""
    if not isinstance(user, str) or not user.strip():
        raise GroundworkError("user must be a non-empty name")
    if user.startswith("system:"):
        raise GroundworkError("user %r: system:* names belong to Kubernetes components; choose a person's name" % user)
    groups = tuple(sorted(set(groups or [])))
    for group in groups:
        if not isinstance(group, str) or not group.strip():
            raise GroundworkError("groups must be non-empty names")
        if group in PRIVILEGED_GROUPS and not allow_system_masters:
            raise GroundworkError(
                "group %s bypasses RBAC: a certificate with it cannot be revoked by removing bindings, only by "
                "rotating the cluster CA. Bind a group to cluster-admin instead (access_bindings), or set "
                "allow_system_masters: true for a last-resort break-glass credential" % group)
        if group.startswith("system:") and group not in PRIVILEGED_GROUPS:
            raise GroundworkError("group %r: system:* groups are assigned by Kubernetes, not in certificates" % group)
    return groups


def check_validity(hours):
    try:
        hours = float(hours)
    except (TypeError, ValueError):
        raise GroundworkError("validity_hours must be a number")
    if hours <= 0 or hours > MAX_VALIDITY_HOURS:
        raise GroundworkError("validity_hours must be above 0 and at most %d (%d days): user credentials are "
                              "short-lived" % (MAX_VALIDITY_HOURS, MAX_VALIDITY_HOURS // 24))
    return hours


def issue(user, groups, public_key_pem, ca_cert, ca_key, now, validity_hours):
    """A client certificate (CN=user, O=groups, clientAuth) for ``public_key_pem`` signed by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID
    try:
        public_key = serialization.load_pem_public_key(public_key_pem.encode("ascii")
                                                       if isinstance(public_key_pem, str) else public_key_pem)
    except (ValueError, TypeError):
        raise GroundworkError("public_key is not a PEM public key")
    not_after = now + datetime.timedelta(hours=validity_hours)
    if not_after > _pki.not_after(ca_cert):
        raise GroundworkError("the cluster CA expires before %s: rotate the CA first (docs/rotation.md)"
                              % not_after.isoformat())
    builder = (x509.CertificateBuilder()
               .subject_name(_pki._name(user, groups)).issuer_name(ca_cert.subject)
               .public_key(public_key).serial_number(_pki._serial())
               .not_valid_before(now - SKEW)
               .not_valid_after(not_after)
               .add_extension(x509.KeyUsage(**_pki.LEAF_KEY_USAGE), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(_pki._aki(ca_cert), critical=False))
    return builder.sign(ca_key, _pki._hash_for(ca_key))


def read_ca(pki_dir, need_key, reader=None, now=None):
    """(CA certs, CA key or None, bundle bytes) from ``pki_dir``; the key only when ``need_key``."""
    reader = reader or _pki.read_file
    now = now or _pki.utcnow()
    cert_pem = reader(os.path.join(pki_dir, "ca.crt"))
    if cert_pem is None:
        raise GroundworkError("%s/ca.crt is missing: run this on a control plane" % pki_dir)
    certs = _pki.load_certs(cert_pem, os.path.join(pki_dir, "ca.crt"))
    key = None
    if need_key:
        key_pem = reader(os.path.join(pki_dir, "ca.key"))
        if key_pem is None:
            raise GroundworkError("%s/ca.key is missing (external CA mode): issue user certificates with your CA"
                                  % pki_dir)
        key = _pki.load_key(key_pem, "ca.key")
        if not _pki.key_matches(certs[0], key):
            raise GroundworkError("%s/ca.key does not match ca.crt" % pki_dir)
    if _pki.not_after(certs[0]) <= now:
        raise GroundworkError("the cluster CA in %s has expired" % pki_dir)
    return certs, key, cert_pem


def admin_server(kubeconfig_path, reader=None):
    """(server, cluster name) of ``admin.conf``, or (None, None) when it cannot be read."""
    reader = reader or _pki.read_file
    data = reader(kubeconfig_path)
    parsed = _pki.parse_kubeconfig(data) if data is not None else None
    if not parsed:
        return None, None
    return parsed["server"], parsed["cluster"]


def identity_of(cert):
    """(user, sorted groups) of a client certificate."""
    from cryptography.x509.oid import NameOID
    cn = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return (cn[0] if cn else None), tuple(sorted(orgs))


def summary(cert, server, cluster, now):
    user, groups = identity_of(cert)
    return {"user": user, "groups": list(groups), "server": server, "cluster": cluster,
            "not_after": _pki.not_after(cert).isoformat(), "serial": "%x" % cert.serial_number,
            "expires_in": _pki._duration((_pki.not_after(cert) - now).total_seconds())}


def needs_issue(existing, user, groups, server, cluster, ca_bundle, ca_cert, renew_within_hours, now):
    """Reasons to (re)issue the kubeconfig whose bytes are ``existing`` (None = missing); [] = keep it."""
    if existing is None:
        return ["kubeconfig missing"]
    parsed = _pki.parse_kubeconfig(existing)
    if not parsed or not parsed.get("cert") or not parsed.get("key"):
        return ["kubeconfig unreadable or without an embedded client certificate"]
    try:
        cert = _pki.load_certs(parsed["cert"])[0]
        key = _pki.load_key(parsed["key"])
    except GroundworkError:
        return ["client certificate or key unreadable"]
    reasons = []
    if identity_of(cert) != (user, tuple(groups)):
        have = identity_of(cert)
        reasons.append("identity is %s %s, wanted %s %s" % (have[0], list(have[1]), user, list(groups)))
    if not _pki.key_matches(cert, key):
        reasons.append("key does not match the certificate")
    if not _pki.issued_by(cert, ca_cert):
        reasons.append("not signed by the current cluster CA")
    if parsed.get("ca") != ca_bundle:
        reasons.append("embedded CA differs from the cluster's ca.crt")
    if parsed.get("server") != server:
        reasons.append("server is %s, wanted %s" % (parsed.get("server"), server))
    if parsed.get("cluster") != cluster:
        reasons.append("cluster name is %s, wanted %s" % (parsed.get("cluster"), cluster))
    left = _pki.not_after(cert) - now
    if left <= datetime.timedelta(hours=renew_within_hours):
        reasons.append("expires in %s (renew within %sh)"
                       % (_pki._duration(max(left.total_seconds(), 0)), renew_within_hours))
    return reasons


def existing_summary(existing, now):
    """Summary of a kubeconfig on disk for the diff (no key material), or None."""
    if existing is None:
        return None
    parsed = _pki.parse_kubeconfig(existing)
    if not parsed or not parsed.get("cert"):
        return {"unreadable": True}
    try:
        cert = _pki.load_certs(parsed["cert"])[0]
    except GroundworkError:
        return {"unreadable": True}
    return summary(cert, parsed.get("server"), parsed.get("cluster"), now)
