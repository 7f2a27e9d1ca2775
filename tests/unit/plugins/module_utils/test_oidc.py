# -*- coding: utf-8 -*-
"""_oidc: OIDC issuers from the inventory -> the API server's AuthenticationConfiguration (JWT authenticators)."""
from __future__ import annotations

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _oidc
from ansible_collections.groundwork.k8s.plugins.filter.oidc_authentication_config import FilterModule

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2Vy\ndGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
FILES = {"/inv/files/idp-ca.crt": "subject=CN=idp\n" + PEM, "/inv/files/empty.crt": "", "/inv/files/key.pem":
         "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


def reader(path):
    if path not in FILES:
        raise FileNotFoundError(2, "No such file or directory", path)
    return FILES[path]


def render(issuers, version="v1.33.3"):
    return _oidc.authentication_config(issuers, version, SA_ISSUER, reader=reader)


BASE = {"name": "corp", "url": "https://idp.example/realms/k8s", "audiences": ["kubernetes"],
        "ca_file": "/inv/files/idp-ca.crt"}


def test_one_issuer_renders_what_the_api_server_reads():
    config, errors = render([BASE])
    assert errors == []
    assert config["apiVersion"] == "apiserver.config.k8s.io/v1beta1"
    assert config["kind"] == "AuthenticationConfiguration"
    (jwt,) = config["jwt"]
    assert jwt["issuer"] == {"url": BASE["url"], "audiences": ["kubernetes"], "certificateAuthority": PEM}
    # prefixes are always written: kube-apiserver refuses a claim without one (checked with v1.33.3)
    assert jwt["claimMappings"] == {"username": {"claim": "sub", "prefix": "oidc:"},
                                    "groups": {"claim": "groups", "prefix": "oidc:"}}
    assert "claimValidationRules" not in jwt
    assert [r["expression"] for r in jwt["userValidationRules"]] == [
        "!user.username.startsWith('system:')", "user.groups.all(group, !group.startsWith('system:'))"]


def test_everything_an_issuer_can_say():
    issuer = dict(BASE, name="keycloak", audiences=["kubernetes", "kubectl"], discovery_url="https://idp.internal/d",
                  username_claim="email", username_prefix="", groups_claim="roles", groups_prefix="kc:",
                  uid_claim="sub", required_claims={"hd": "example.com"}, ca_file=None, ca=PEM,
                  extra={"claimMappings": {"extra": [{"key": "example.com/tenant", "valueExpression": "claims.tenant"}]}})
    (jwt,) = render([issuer])[0]["jwt"]
    assert jwt["issuer"] == {"url": BASE["url"], "audiences": ["kubernetes", "kubectl"], "audienceMatchPolicy": "MatchAny",
                             "discoveryURL": "https://idp.internal/d", "certificateAuthority": PEM}
    assert jwt["claimMappings"] == {"username": {"claim": "email", "prefix": ""}, "groups": {"claim": "roles", "prefix": "kc:"},
                                    "uid": {"claim": "sub"},
                                    "extra": [{"key": "example.com/tenant", "valueExpression": "claims.tenant"}]}
    assert jwt["claimValidationRules"] == [{"claim": "hd", "requiredValue": "example.com"}]


def test_no_ca_uses_the_system_trust_and_no_groups_claim_maps_none():
    (jwt,) = render([dict(BASE, ca_file=None, groups_claim="")])[0]["jwt"]
    assert "certificateAuthority" not in jwt["issuer"]
    assert "groups" not in jwt["claimMappings"]


@pytest.mark.parametrize("version,api", [
    ("v1.30.0", "apiserver.config.k8s.io/v1beta1"), ("v1.33.3", "apiserver.config.k8s.io/v1beta1"),
    ("1.34.1", "apiserver.config.k8s.io/v1"), ("v1.35.0-alpha.1", "apiserver.config.k8s.io/v1"),
])
def test_api_version_follows_the_release(version, api):
    assert render([BASE], version)[0]["apiVersion"] == api


def test_no_issuers_is_an_empty_list_kube_apiserver_accepts():
    assert render([]) == ({"apiVersion": "apiserver.config.k8s.io/v1beta1", "kind": "AuthenticationConfiguration",
                           "jwt": []}, [])
    assert render(None)[1] == []


def test_two_issuers_in_order():
    config, errors = render([BASE, dict(BASE, name="other", url="https://other.example")])
    assert errors == [] and [j["issuer"]["url"] for j in config["jwt"]] == [BASE["url"], "https://other.example"]


@pytest.mark.parametrize("change,msg", [
    ({"url": "http://idp.example"}, r"groundwork_oidc_issuers\[0\] \(corp\)\.url 'http://idp.example' must be an https:// URL"),
    ({"url": ""}, r"\.url is required"),
    ({"url": "https://idp.example/?a=b"}, "must not carry a query or fragment"),
    ({"url": "https://u:p@idp.example"}, "must not carry user information"),
    ({"url": SA_ISSUER}, "is the cluster's service-account issuer"),
    ({"discovery_url": "http://idp.internal/d"}, r"\.discovery_url 'http://idp.internal/d' must be an https:// URL"),
    ({"audiences": []}, r"\.audiences must list at least one non-empty audience"),
    ({"audiences": [""]}, r"\.audiences must list at least one"),
    ({"audiences": ["a", "a"]}, "lists an audience twice"),
    ({"audiences": "kubernetes"}, r"\.audiences must be a list"),
    ({"ca_file": "files/idp-ca.crt"}, r"\.ca_file 'files/idp-ca.crt' must be an absolute path on the controller"),
    ({"ca_file": "/inv/files/missing.crt"}, r"\.ca_file '/inv/files/missing.crt' cannot be read on the controller"),
    ({"ca_file": "/inv/files/empty.crt"}, "holds no PEM certificate"),
    ({"ca_file": "/inv/files/key.pem"}, "holds no PEM certificate"),
    ({"ca": PEM}, "set ca .* or ca_file .*, not both"),
    ({"name": "Corp_1"}, r"\.name 'Corp_1': a short lower-case name"),
    ({"username_prefix": "system:"}, r"username_prefix 'system:' must not start with system:"),
    ({"groups_prefix": "system:x-"}, r"groups_prefix 'system:x-' must not start with system:"),
    ({"groups_claim": "a b"}, r"groups_claim 'a b' is not a claim name"),
    ({"required_claims": {"hd": 1}}, "required_claims"),
    ({"client_id": "x"}, r"unknown key\(s\) client_id"),
])
def test_bad_issuers_are_refused_naming_the_variable(change, msg):
    config, errors = render([dict(BASE, **change)])
    assert config is None
    assert len(errors) >= 1
    assert any(__import__("re").search(msg, e) for e in errors), errors


def test_duplicates_and_every_problem_at_once():
    config, errors = render([BASE, dict(BASE, audiences=[]), "x"])
    assert config is None
    joined = "\n".join(errors)
    assert "name 'corp' is used twice" in joined
    assert "used by two issuers" in joined
    assert "audiences must list" in joined
    assert "groundwork_oidc_issuers[2] must be a dict" in joined


def test_old_releases_refuse_issuers_but_not_an_empty_list():
    assert render([], "v1.29.4")[1] == []
    assert "OIDC issuers need v1.30 or later" in render([BASE], "v1.29.4")[1][0]
    assert not _oidc.supported("v1.29.4") and _oidc.supported("v1.30.0") and not _oidc.supported("")


@pytest.mark.parametrize("args,want", [
    ({"oidc-issuer-url": "https://x", "v": "2"}, ["oidc-issuer-url"]),
    ([{"name": "authentication-config", "value": "/x"}], ["authentication-config"]),
    ({"profiling": "false"}, []),
    (None, []),
])
def test_conflicting_apiserver_flags(args, want):
    assert _oidc.conflicting_flags(args) == want


def test_filter_returns_errors_instead_of_raising(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text(PEM)
    f = FilterModule().filters()["oidc_authentication_config"]
    out = f([dict(BASE, ca_file=str(ca))], "v1.33.3", SA_ISSUER)
    assert out["errors"] == [] and out["supported"] is True and out["issuers"] == [BASE["url"]]
    assert out["config"]["jwt"][0]["issuer"]["certificateAuthority"] == PEM
    bad = f([dict(BASE, url="http://x")], "v1.33.3")
    assert bad["config"] is None and "https://" in bad["errors"][0]


# what kube-apiserver v1.33.3 printed on the real lane after access.yml rewrote the file
METRICS = '''# HELP apiserver_authentication_config_controller_automatic_reload_last_timestamp_seconds [BETA] Timestamp
apiserver_authentication_config_controller_automatic_reload_last_timestamp_seconds{apiserver_id_hash="sha256:ef77",status="success"} 1.7965853864452195e+09
apiserver_authentication_config_controller_automatic_reloads_total{apiserver_id_hash="sha256:ef77",status="success"} 1
'''
FAILED_LATER = METRICS + ('apiserver_authentication_config_controller_automatic_reload_last_timestamp_seconds'
                          '{apiserver_id_hash="sha256:ef77",status="failure"} 1.7965859e+09\n')


@pytest.mark.parametrize("text,written,want", [
    (METRICS, 1796585386.0, "success"),
    (METRICS, 1796585387.0, "pending"),       # the last reload is older than the file
    ("", 1796585386.0, "pending"),            # no reload yet (fresh API server) or no metrics
    (FAILED_LATER, 1796585800.0, "failure"),  # refused: the previous configuration stays
    (FAILED_LATER, 1796585300.0, "failure"),  # the newest event wins
    (FAILED_LATER, 1796586000.0, "pending"),
])
def test_reload_status_from_the_api_servers_metrics(text, written, want):
    assert _oidc.reload_status(text, written) == want
    assert FilterModule().filters()["oidc_reload_status"](text, written) == want
