# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""OIDC issuers from inventory data -> the API server's structured authentication configuration
(apiserver.config.k8s.io AuthenticationConfiguration, JWT authenticators). Pure functions; tests call
them directly. Validation returns every problem at once, each naming the variable to fix."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

VARIABLE = "groundwork_oidc_issuers"
AUTHN_DIR = "/etc/kubernetes/authentication"
AUTHN_FILE = AUTHN_DIR + "/config.yaml"
# Structured authentication configuration: beta (on by default, file reloaded when it changes) since
# v1.30, GA as apiserver.config.k8s.io/v1 in v1.34.
MIN_MINOR = 30
V1_MINOR = 34

KEYS = {
    "name": str, "url": str, "discovery_url": str, "audiences": list, "ca_file": str, "ca": str,
    "username_claim": str, "username_prefix": str, "groups_claim": str, "groups_prefix": str,
    "uid_claim": str, "required_claims": dict, "extra": dict,
}
DEFAULTS = {"username_claim": "sub", "username_prefix": "oidc:", "groups_claim": "groups", "groups_prefix": "oidc:"}
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]+$")
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")
# Nobody gets Kubernetes' own identities through a token: a groups claim "system:masters" would bypass RBAC.
USER_VALIDATION_RULES = [
    {"expression": "!user.username.startsWith('system:')",
     "message": "username from an OIDC token must not start with system:"},
    {"expression": "user.groups.all(group, !group.startsWith('system:'))",
     "message": "groups from an OIDC token must not start with system:"},
]


def minor_of(version):
    m = re.match(r"^v?(\d+)\.(\d+)", str(version or ""))
    return (int(m.group(1)), int(m.group(2))) if m else None


def supported(version):
    """True when this Kubernetes version reads --authentication-config without a feature gate."""
    mm = minor_of(version)
    return bool(mm) and mm >= (1, MIN_MINOR)


def api_version(version):
    mm = minor_of(version)
    return "apiserver.config.k8s.io/v1" if mm and mm >= (1, V1_MINOR) else "apiserver.config.k8s.io/v1beta1"


def _default_reader(path):
    with open(path, "r", encoding="utf-8") as f:
        return f.read()


def _url_errors(url, where, what="url"):
    errs = []
    if not isinstance(url, str) or not url:
        return ["%s.%s is required: the issuer URL exactly as the tokens' iss claim says (https://...)" % (where, what)]
    parts = urlsplit(url)
    if parts.scheme != "https":
        errs.append("%s.%s %r must be an https:// URL (the API server only fetches keys over TLS)" % (where, what, url))
    if not parts.hostname:
        errs.append("%s.%s %r has no host" % (where, what, url))
    if parts.query or parts.fragment or "#" in url or "?" in url:
        errs.append("%s.%s %r must not carry a query or fragment" % (where, what, url))
    if parts.username or parts.password:
        errs.append("%s.%s %r must not carry user information" % (where, what, url))
    return errs


def read_ca(issuer, where, reader=_default_reader):
    """(pem, errors): the issuer's CA from ``ca`` (PEM text) or ``ca_file`` (absolute path on the controller)."""
    if issuer.get("ca") and issuer.get("ca_file"):
        return None, ["%s: set ca (PEM text) or ca_file (a path on the controller), not both" % where]
    pem = issuer.get("ca")
    if issuer.get("ca_file"):
        path = issuer["ca_file"]
        if not path.startswith("/"):
            return None, ["%s.ca_file %r must be an absolute path on the controller (e.g. "
                          "'{{ inventory_dir }}/files/idp-ca.crt')" % (where, path)]
        try:
            pem = reader(path)
        except (OSError, UnicodeDecodeError) as exc:
            return None, ["%s.ca_file %r cannot be read on the controller: %s" % (where, path, exc)]
    if pem is None:
        return None, []
    if not _PEM_CERT.search(pem or ""):
        src = "ca_file %r" % issuer["ca_file"] if issuer.get("ca_file") else "ca"
        return None, ["%s.%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)" % (where, src)]
    return "".join(m.group(0) + "\n" for m in _PEM_CERT.finditer(pem)), []


def validate(issuers, service_account_issuer="", reader=_default_reader):
    """Return (normalised issuers, errors). Every error names groundwork_oidc_issuers[i].field and the fix."""
    if issuers is None:
        issuers = []
    if not isinstance(issuers, list):
        return [], ["%s must be a list of issuers ({name, url, audiences, ...}); got %s" % (VARIABLE, type(issuers).__name__)]
    out, errors, names, urls = [], [], set(), set()
    for i, raw in enumerate(issuers):
        where = "%s[%d]" % (VARIABLE, i)
        if not isinstance(raw, dict):
            errors.append("%s must be a dict ({name, url, audiences, ...}); got %r" % (where, raw))
            continue
        errs = []
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            errs.append("%s: unknown key(s) %s; known: %s" % (where, ", ".join(unknown), ", ".join(sorted(KEYS))))
        for key, typ in KEYS.items():
            if key in raw and raw[key] is not None and not isinstance(raw[key], typ):
                errs.append("%s.%s must be a %s" % (where, key, typ.__name__))
        if errs:
            errors += errs
            continue
        iss = dict(DEFAULTS)
        iss.update({k: v for k, v in raw.items() if v is not None})
        name = iss.get("name")
        if not name or not _NAME.match(name):
            errs.append("%s.name %r: a short lower-case name (letters, digits, '-') is required" % (where, name))
        elif name in names:
            errs.append("%s.name %r is used twice" % (where, name))
        names.add(name)
        where = "%s[%d] (%s)" % (VARIABLE, i, name) if name else where
        errs += _url_errors(iss.get("url"), where)
        if iss.get("url") in urls:
            errs.append("%s.url %r is used by two issuers (the API server matches tokens by issuer)" % (where, iss["url"]))
        urls.add(iss.get("url"))
        if service_account_issuer and iss.get("url") == service_account_issuer:
            errs.append("%s.url %r is the cluster's service-account issuer: an OIDC issuer needs its own URL" % (where, iss["url"]))
        if iss.get("discovery_url"):
            errs += _url_errors(iss["discovery_url"], where, "discovery_url")
            if iss["discovery_url"] == iss.get("url"):
                errs.append("%s.discovery_url must differ from url (leave it out to use url/.well-known/openid-configuration)" % where)
        auds = iss.get("audiences") or []
        if not auds or not all(isinstance(a, str) and a for a in auds):
            errs.append("%s.audiences must list at least one non-empty audience (the tokens' aud, e.g. the client id)" % where)
        elif len(set(auds)) != len(auds):
            errs.append("%s.audiences lists an audience twice" % where)
        for claim in ("username_claim", "groups_claim", "uid_claim"):
            # an empty groups_claim (or uid_claim) maps none; the username claim is required
            if (iss.get(claim) or claim == "username_claim") and not _CLAIM.match(iss.get(claim) or ""):
                errs.append("%s.%s %r is not a claim name" % (where, claim, iss[claim]))
        for prefix in ("username_prefix", "groups_prefix"):
            if str(iss.get(prefix, "")).startswith("system:"):
                errs.append("%s.%s %r must not start with system: (reserved for Kubernetes)" % (where, prefix, iss[prefix]))
        for claim, value in (iss.get("required_claims") or {}).items():
            if not isinstance(value, str) or not _CLAIM.match(str(claim)):
                errs.append("%s.required_claims: %r: %r must be a claim name and a string value" % (where, claim, value))
        pem, ca_errs = read_ca(iss, where, reader)
        errs += ca_errs
        if errs:
            errors += errs
            continue
        iss["ca_pem"] = pem
        out.append(iss)
    return (out if not errors else []), errors


def authenticator(iss):
    """One JWT authenticator of the AuthenticationConfiguration from a validated issuer."""
    issuer = {"url": iss["url"], "audiences": list(iss["audiences"])}
    if len(issuer["audiences"]) > 1:
        issuer["audienceMatchPolicy"] = "MatchAny"
    if iss.get("discovery_url"):
        issuer["discoveryURL"] = iss["discovery_url"]
    if iss.get("ca_pem"):
        issuer["certificateAuthority"] = iss["ca_pem"]
    mappings = {"username": {"claim": iss["username_claim"], "prefix": iss["username_prefix"]}}
    if iss.get("groups_claim"):
        mappings["groups"] = {"claim": iss["groups_claim"], "prefix": iss["groups_prefix"]}
    if iss.get("uid_claim"):
        mappings["uid"] = {"claim": iss["uid_claim"]}
    out = {"issuer": issuer, "claimMappings": mappings}
    rules = [{"claim": c, "requiredValue": v} for c, v in sorted((iss.get("required_claims") or {}).items())]
    if rules:
        out["claimValidationRules"] = rules
    out["userValidationRules"] = [dict(r) for r in USER_VALIDATION_RULES]
    return _merge(out, iss.get("extra") or {})


def _merge(base, override):
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def authentication_config(issuers, kubernetes_version, service_account_issuer="", reader=_default_reader):
    """(AuthenticationConfiguration dict, errors). No issuers gives an empty jwt list, which the API server
    accepts (checked with kube-apiserver v1.33.3): the flag stays and a later file adds issuers."""
    valid, errors = validate(issuers, service_account_issuer, reader)
    if not supported(kubernetes_version) and issuers:
        errors.append("%s: Kubernetes %s has no structured authentication configuration without a feature gate; "
                      "OIDC issuers need v1.%d or later" % (VARIABLE, kubernetes_version, MIN_MINOR))
    if errors:
        return None, errors
    return {"apiVersion": api_version(kubernetes_version), "kind": "AuthenticationConfiguration",
            "jwt": [authenticator(i) for i in valid]}, []


def conflicting_flags(apiserver_extra_args):
    """--oidc-* flags cannot be combined with --authentication-config (the API server refuses to start)."""
    if isinstance(apiserver_extra_args, dict):
        names = list(apiserver_extra_args)
    else:
        names = [a.get("name") for a in (apiserver_extra_args or []) if isinstance(a, dict)]
    return sorted(str(n) for n in names if str(n).startswith("oidc-") or str(n) == "authentication-config")


_RELOAD_METRIC = re.compile(
    r'^apiserver_authentication_config_controller_automatic_reload_last_timestamp_seconds\{([^}]*)\}\s+(\S+)$', re.M)


def reload_status(metrics_text, written_at):
    """'success' or 'failure' when kube-apiserver's last automatic reload of the authentication configuration (its
    /metrics) happened at or after ``written_at`` (the file's mtime), else 'pending'. A failure newer than the last
    success wins: the API server keeps the previous configuration then."""
    last = {}
    for labels, value in _RELOAD_METRIC.findall(metrics_text or ""):
        status = re.search(r'status="([^"]+)"', labels)
        try:
            ts = float(value)
        except ValueError:
            continue
        if status:
            last[status.group(1)] = max(ts, last.get(status.group(1), 0.0))
    newest = max(last.items(), key=lambda kv: kv[1]) if last else None
    if newest and newest[1] >= float(written_at or 0):
        return newest[0] if newest[0] in ("success", "failure") else "pending"
    return "pending"
