# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""kubeadm as data: v1beta4 configuration rendering, a runner, token and version parsing,
CA public-key pinning and join-state decisions. Pure functions; tests call them directly."""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
import os
import re

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._oidc import supported as authentication_config_supported
from ansible_collections.groundwork.k8s.plugins.module_utils._runner import Runner

API_VERSION = "kubeadm.k8s.io/v1beta4"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
KUBEPROXY_API = "kubeproxy.config.k8s.io/v1alpha1"
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
TOKEN_ANYWHERE_RE = re.compile(r"\b([a-z0-9]{6})\.[a-z0-9]{16}\b")
HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
KEY_TYPE_TO_ALGORITHM = {
    "rsa2048": "RSA-2048", "rsa3072": "RSA-3072", "rsa4096": "RSA-4096",
    "ecdsa256": "ECDSA-P256", "ecdsa384": "ECDSA-P384",
}
DEFAULT_CRI_SOCKET = "unix:///run/containerd/containerd.sock"
TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"

# Hardening files live in directories of their own so they can be mounted read-only into the
# API server's static pod (extraVolumes) without exposing the rest of /etc/kubernetes.
AUDIT_DIR = "/etc/kubernetes/audit"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"
ENCRYPTION_DIR = "/etc/kubernetes/encryption"
ADMISSION_DIR = "/etc/kubernetes/admission"
# Structured authentication configuration (OIDC issuers, _oidc.py): the directory is mounted, not the file, so
# a rewrite (temp file + rename) is seen inside the pod and the API server reloads it without a restart.
AUTHN_DIR = "/etc/kubernetes/authentication"


# --------------------------------------------------------------------------- helpers
def args_list(args):
    """v1beta4 extraArgs/kubeletExtraArgs are lists of {name, value}; accept a dict or a list."""
    if not args:
        return []
    if isinstance(args, dict):
        return [{"name": str(k), "value": str(v)} for k, v in sorted(args.items())]
    out = []
    for item in args:
        if not isinstance(item, dict) or "name" not in item:
            raise GroundworkError("extra args must be a dict or a list of {name, value}: got %r" % (item,))
        out.append({"name": str(item["name"]), "value": str(item.get("value", ""))})
    return out


def merge(base, override):
    """Deep-merge dicts (override wins); lists and scalars are replaced."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def encryption_algorithm(key_type):
    try:
        return KEY_TYPE_TO_ALGORITHM[key_type]
    except KeyError:
        raise GroundworkError("unknown key type %r: use one of %s" % (key_type, ", ".join(sorted(KEY_TYPE_TO_ALGORITHM))))


def split_endpoint(endpoint):
    host, sep, port = str(endpoint).rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise GroundworkError("endpoint %r must be host:port" % (endpoint,))
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------- hardening data
def hardening_files(audit=True, encryption=True, pod_security=True, pod_security_level="baseline",
                    pod_security_exempt_namespaces=("kube-system",), authentication_config=False):
    """Return {apiServer extraArgs, extraVolumes} for the hardening features that are on."""
    args, volumes = [], []
    args.append({"name": "enable-admission-plugins", "value": "NodeRestriction"})
    args.append({"name": "profiling", "value": "false"})
    if audit:
        args += [{"name": "audit-policy-file", "value": AUDIT_DIR + "/policy.yaml"},
                 {"name": "audit-log-path", "value": AUDIT_LOG_DIR + "/audit.log"},
                 {"name": "audit-log-maxage", "value": "30"},
                 {"name": "audit-log-maxbackup", "value": "10"},
                 {"name": "audit-log-maxsize", "value": "100"}]
        volumes += [{"name": "audit-policy", "hostPath": AUDIT_DIR, "mountPath": AUDIT_DIR,
                     "readOnly": True, "pathType": "DirectoryOrCreate"},
                    {"name": "audit-log", "hostPath": AUDIT_LOG_DIR, "mountPath": AUDIT_LOG_DIR,
                     "readOnly": False, "pathType": "DirectoryOrCreate"}]
    if encryption:
        args.append({"name": "encryption-provider-config", "value": ENCRYPTION_DIR + "/config.yaml"})
        volumes.append({"name": "encryption-config", "hostPath": ENCRYPTION_DIR, "mountPath": ENCRYPTION_DIR,
                        "readOnly": True, "pathType": "DirectoryOrCreate"})
    if pod_security:
        args.append({"name": "admission-control-config-file", "value": ADMISSION_DIR + "/admission.yaml"})
        volumes.append({"name": "admission-config", "hostPath": ADMISSION_DIR, "mountPath": ADMISSION_DIR,
                        "readOnly": True, "pathType": "DirectoryOrCreate"})
    if authentication_config:
        args.append({"name": "authentication-config", "value": AUTHN_DIR + "/config.yaml"})
        volumes.append({"name": "authentication-config", "hostPath": AUTHN_DIR, "mountPath": AUTHN_DIR,
                        "readOnly": True, "pathType": "DirectoryOrCreate"})
    return {"extraArgs": args, "extraVolumes": volumes}


def audit_policy():
    """Metadata for everything, no request bodies of secrets/tokens, skip the noisy read-only health calls."""
    return {
        "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]},
            {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]},
                                                {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]},
            {"level": "RequestResponse", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
            {"level": "Metadata"},
        ],
    }


def encryption_config(key_b64, key_name="key1"):
    """EncryptionConfiguration for Secrets at rest (aescbc with one 32-byte key, identity to read old data)."""
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 32:
        raise GroundworkError("the Secrets encryption key must be 32 bytes (base64 of 32 bytes); got %d bytes" % len(raw))
    return {
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"],
                       "providers": [{"aescbc": {"keys": [{"name": key_name, "secret": key_b64}]}},
                                     {"identity": {}}]}],
    }


def admission_config(level="baseline", exempt_namespaces=("kube-system",)):
    """Pod Security admission defaults: enforce ``level``, audit and warn on restricted."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
        "plugins": [{"name": "PodSecurity", "configuration": {
            "apiVersion": "pod-security.admission.config.k8s.io/v1", "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": level, "enforce-version": "latest", "audit": "restricted",
                         "audit-version": "latest", "warn": "restricted", "warn-version": "latest"},
            "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": sorted(exempt_namespaces)}}}],
    }


# --------------------------------------------------------------------------- rendering
PREFLIGHT_CHECK_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def node_registration(p):
    reg = {"name": p["node_name"], "criSocket": p.get("cri_socket") or DEFAULT_CRI_SOCKET}
    extra = args_list(p.get("kubelet_extra_args"))
    if extra:
        reg["kubeletExtraArgs"] = extra
    if p.get("taints") is not None:
        reg["taints"] = p["taints"]
    if p.get("ignore_preflight_errors"):
        names = [str(n) for n in p["ignore_preflight_errors"]]
        bad = [n for n in names if n.lower() == "all" or not PREFLIGHT_CHECK_RE.match(n)]
        if bad:
            raise GroundworkError(
                "ignore_preflight_errors: %s refused: name each kubeadm preflight check to report as a warning "
                "(e.g. HTTPProxyCIDR, as printed in kubeadm's '[ERROR <Name>]' line); 'all' would hide every check"
                % ", ".join(repr(b) for b in bad))
        reg["ignorePreflightErrors"] = names
    return reg


def signer_args(p):
    """controller-manager's CSR signing pair on ``ca_signer_file`` (one certificate) and ``ca.key``.

    kubeadm points ``--cluster-signing-cert-file`` at ``ca.crt``, which holds two certificates during a
    CA rotation (and a chain with an intermediate CA); controller-manager v1.33 then exits ("expected 1
    certificate, found 2"). The pki role keeps ``ca-signer.crt`` = the first certificate of ``ca.crt``.
    Empty ``ca_signer_file`` (an external CA: no ``ca.key``) leaves kubeadm's defaults.
    """
    signer = p.get("ca_signer_file")
    if not signer:
        return []
    pki = p.get("pki_dir") or "/etc/kubernetes/pki"
    return [{"name": "cluster-signing-cert-file", "value": str(signer)},
            {"name": "cluster-signing-key-file", "value": pki.rstrip("/") + "/ca.key"}]


def render_init(p):
    """Return [InitConfiguration, ClusterConfiguration, KubeletConfiguration, KubeProxyConfiguration].

    ``p`` keys: node_name, advertise_address, bind_port, cri_socket, kubelet_extra_args, patches_dir,
    skip_phases, cluster_name, kubernetes_version, control_plane_endpoint, cert_sans, service_subnet,
    pod_subnet, dns_domain, key_type, image_repository, etcd ({mode: stacked|external, ...}),
    hardening ({audit, encryption, pod_security, pod_security_level}), apiserver_extra_args,
    ca_signer_file (controller-manager's signing certificate, see :func:`signer_args`), controller_manager_extra_args,
    scheduler_extra_args, kubelet_config, kube_proxy_config,
    dns_disabled, proxy_disabled, cluster_extra (dict merged last into ClusterConfiguration).
    """
    init = {"apiVersion": API_VERSION, "kind": "InitConfiguration",
            "localAPIEndpoint": {"advertiseAddress": p["advertise_address"], "bindPort": int(p.get("bind_port") or 6443)},
            "nodeRegistration": node_registration(p)}
    if p.get("patches_dir"):
        init["patches"] = {"directory": p["patches_dir"]}
    if p.get("skip_phases"):
        init["skipPhases"] = list(p["skip_phases"])
    if p.get("bootstrap_tokens") is not None:
        init["bootstrapTokens"] = p["bootstrap_tokens"]

    hard = p.get("hardening") or {}
    files = hardening_files(audit=hard.get("audit", True), encryption=hard.get("encryption", True),
                            pod_security=hard.get("pod_security", True),
                            authentication_config=hard.get("authentication_config",
                                                           authentication_config_supported(p["kubernetes_version"])))
    api_args = files["extraArgs"] + args_list(p.get("apiserver_extra_args"))
    cluster = {
        "apiVersion": API_VERSION, "kind": "ClusterConfiguration",
        "clusterName": p.get("cluster_name") or "kubernetes",
        "kubernetesVersion": p["kubernetes_version"],
        "controlPlaneEndpoint": p.get("control_plane_endpoint") or "%s:%s" % (p["advertise_address"], init["localAPIEndpoint"]["bindPort"]),
        "certificatesDir": p.get("pki_dir") or "/etc/kubernetes/pki",
        "encryptionAlgorithm": encryption_algorithm(p.get("key_type") or "rsa2048"),
        "networking": {"serviceSubnet": p.get("service_subnet") or "10.96.0.0/12",
                       "podSubnet": p.get("pod_subnet") or "10.244.0.0/16",
                       "dnsDomain": p.get("dns_domain") or "cluster.local"},
        "apiServer": {"extraArgs": dedupe_args(api_args), "extraVolumes": files["extraVolumes"]},
        "controllerManager": {"extraArgs": dedupe_args([{"name": "profiling", "value": "false"}]
                                                       + signer_args(p)
                                                       + args_list(p.get("controller_manager_extra_args")))},
        "scheduler": {"extraArgs": dedupe_args([{"name": "profiling", "value": "false"}]
                                               + args_list(p.get("scheduler_extra_args")))},
    }
    if p.get("cert_sans"):
        cluster["apiServer"]["certSANs"] = [str(s) for s in p["cert_sans"]]
    if p.get("image_repository"):
        cluster["imageRepository"] = p["image_repository"]
    etcd = p.get("etcd") or {"mode": "stacked"}
    if etcd.get("mode") == "external":
        if not etcd.get("endpoints"):
            raise GroundworkError("external etcd needs at least one endpoint (groups.etcd is empty?)")
        pki = cluster["certificatesDir"]
        cluster["etcd"] = {"external": {"endpoints": list(etcd["endpoints"]),
                                        "caFile": etcd.get("ca_file") or pki + "/etcd/ca.crt",
                                        "certFile": etcd.get("cert_file") or pki + "/apiserver-etcd-client.crt",
                                        "keyFile": etcd.get("key_file") or pki + "/apiserver-etcd-client.key"}}
    elif etcd.get("mode", "stacked") == "stacked":
        local = {"dataDir": etcd.get("data_dir") or "/var/lib/etcd"}
        if etcd.get("image_tag"):
            local["imageTag"] = etcd["image_tag"]
        if etcd.get("extra_args"):
            local["extraArgs"] = args_list(etcd["extra_args"])
        cluster["etcd"] = {"local": local}
    else:
        raise GroundworkError("etcd mode must be stacked or external, got %r" % etcd.get("mode"))
    # A skipped addon phase is recorded as a disabled addon: kubeadm keeps the ClusterConfiguration in the
    # cluster, and ``upgrade apply`` pulls (and upgrades) the addons it does not say are disabled -- with
    # only skipPhases, the upgrade's preflight tried to pull a CoreDNS image the site never had (real lane).
    skipped = set(p.get("skip_phases") or [])
    if p.get("dns_disabled") or skipped & {"addon", "addon/coredns"}:
        cluster["dns"] = {"disabled": True}
    if p.get("proxy_disabled") or skipped & {"addon", "addon/kube-proxy"}:
        cluster["proxy"] = {"disabled": True}
    cluster = merge(cluster, p.get("cluster_extra"))

    kubelet = merge({"apiVersion": KUBELET_API, "kind": "KubeletConfiguration",
                     "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
                     "authorization": {"mode": "Webhook"},
                     "cgroupDriver": "systemd", "rotateCertificates": True,
                     "serverTLSBootstrap": False, "protectKernelDefaults": False},
                    p.get("kubelet_config"))
    proxy = merge({"apiVersion": KUBEPROXY_API, "kind": "KubeProxyConfiguration", "mode": "iptables"},
                  p.get("kube_proxy_config"))
    return [init, cluster, kubelet, proxy]


def dedupe_args(args):
    """Later entries win for the same name; order of first appearance kept."""
    seen = {}
    for a in args:
        seen[a["name"]] = a["value"]
    return [{"name": k, "value": v} for k, v in seen.items()]


def render_join(p):
    """Return [JoinConfiguration]. ``p``: api_server_endpoint, token, ca_cert_hashes, node_name,
    cri_socket, kubelet_extra_args, control_plane, advertise_address, bind_port, certificate_key,
    patches_dir, discovery_timeout, skip_phases."""
    hashes = [h.lower() for h in (p.get("ca_cert_hashes") or [])]
    if not hashes:
        raise GroundworkError("ca_cert_hashes is empty: a join always pins the cluster CA (sha256:<64 hex>)")
    for h in hashes:
        if not HASH_RE.match(h):
            raise GroundworkError("CA cert hash %r is not sha256:<64 hex digits>" % h)
    if not TOKEN_RE.match(p.get("token") or ""):
        raise GroundworkError("token must match [a-z0-9]{6}.[a-z0-9]{16}")
    split_endpoint(p["api_server_endpoint"])
    join = {"apiVersion": API_VERSION, "kind": "JoinConfiguration",
            "discovery": {"bootstrapToken": {"apiServerEndpoint": p["api_server_endpoint"], "token": p["token"],
                                             "caCertHashes": hashes}},
            "nodeRegistration": node_registration(p)}
    if p.get("control_plane"):
        cp = {"localAPIEndpoint": {"advertiseAddress": p["advertise_address"], "bindPort": int(p.get("bind_port") or 6443)}}
        if p.get("certificate_key"):
            cp["certificateKey"] = p["certificate_key"]
        join["controlPlane"] = cp
    if p.get("patches_dir"):
        join["patches"] = {"directory": p["patches_dir"]}
    if p.get("skip_phases"):
        join["skipPhases"] = list(p["skip_phases"])
    if p.get("discovery_timeout"):
        join["timeouts"] = {"discovery": p["discovery_timeout"]}
    return [join]


def dump_docs(docs):
    """Render documents as a multi-document YAML stream (JSON is valid YAML; no PyYAML needed on nodes)."""
    return "---\n".join(json.dumps(d, indent=2, sort_keys=False) + "\n" for d in docs)


# --------------------------------------------------------------------------- CA pinning
def _der_read(data, pos):
    """Return (tag, header_len, content_len) of the DER element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    if length < 0x80:
        return tag, 2, length
    n = length & 0x7F
    return tag, 2 + n, int.from_bytes(data[pos + 2:pos + 2 + n], "big")


def spki_der(cert_der):
    """The SubjectPublicKeyInfo element (header included) of an X.509 certificate in DER."""
    pos = _der_read(cert_der, 0)[1]                # into Certificate
    pos += _der_read(cert_der, pos)[1]             # into tbsCertificate
    fields = []
    while len(fields) < 7:
        tag, hl, ln = _der_read(cert_der, pos)
        fields.append((tag, pos, hl + ln))
        pos += hl + ln
    if fields[0][0] != 0xA0:                        # v1 certificate: no [0] version
        fields = fields[:-1]
        fields.insert(0, (0xA0, None, 0))
    start, total = fields[6][1], fields[6][2]
    return cert_der[start:start + total]


def pem_to_der(pem):
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    m = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem, re.S)
    if not m:
        raise GroundworkError("no PEM certificate found")
    return base64.b64decode("".join(m.group(1).split()))


def ca_cert_hash(pem):
    """kubeadm's discovery hash: sha256 of the CA's DER SubjectPublicKeyInfo, as ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(spki_der(pem_to_der(pem))).hexdigest()


def ca_cert_hashes(pem):
    """The discovery hash of every certificate of a CA bundle, in file order, without repeats.

    During a CA rotation ``ca.crt`` holds the old and the new CA (phase 1: old first, phase 2: new first) and so
    does the ``cluster-info`` ConfigMap a joining node discovers; kubeadm accepts the join when any pin matches any
    CA there, so a join pins them all and works in every phase."""
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem or "", re.S)
    if not blocks:
        raise GroundworkError("no PEM certificate found")
    out = []
    for b in blocks:
        h = ca_cert_hash(b)
        if h not in out:
            out.append(h)
    return out


# --------------------------------------------------------------------------- tokens
def parse_token_list(text):
    """``kubeadm token list -o json`` prints concatenated objects ``{...}{...}``: return a list of dicts."""
    dec = json.JSONDecoder()
    out, pos, text = [], 0, text or ""
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        try:
            obj, pos = dec.raw_decode(text, pos)
        except ValueError as exc:
            raise GroundworkError("cannot parse kubeadm token list output at offset %d: %s" % (pos, exc))
        if isinstance(obj, list):
            out.extend(obj)
        else:
            out.append(obj)


def parse_time(value):
    if not value:
        return None
    return datetime.datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")


DURATION_RE = re.compile(r"(\d+)([hms])")


def duration_seconds(value):
    """Accept seconds (int) or Go-style durations like ``2h``, ``30m``, ``1h30m0s``."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    parts = DURATION_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise GroundworkError("duration %r: use seconds or e.g. 2h, 30m, 1h30m0s" % (value,))
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def pick_reusable_token(tokens, description, min_ttl, now, usages=("authentication", "signing"),
                        groups=(TOKEN_GROUP,)):
    """The token with our description, the usages/groups we need and at least ``min_ttl`` seconds left
    (the one that lives longest); None when none fits. Tokens without expiry (ttl 0) fit."""
    best, best_left = None, -1
    for t in tokens:
        if t.get("description", "") != description:
            continue
        if not set(usages) <= set(t.get("usages") or []) or not set(groups) <= set(t.get("groups") or []):
            continue
        exp = parse_time(t.get("expires"))
        left = float("inf") if exp is None else (exp - now).total_seconds()
        if left >= min_ttl and left > best_left:
            best, best_left = t, left
    return best


def token_id(token):
    m = TOKEN_RE.match(token or "")
    if not m:
        raise GroundworkError("token must match [a-z0-9]{6}.[a-z0-9]{16}")
    return m.group(1)


def new_token(rand=os.urandom):
    """A bootstrap token made here (kubeadm accepts one as argument): never scraped from output."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

    def part(n):
        return "".join(alphabet[b % 36] for b in rand(n * 2) if b < 252)[:n]
    a, b = part(6), part(16)
    while len(a) < 6 or len(b) < 16:  # rejection sampling may come up short; try again
        a, b = part(6), part(16)
    return a + "." + b


def redact(text):
    """Hide bootstrap token secrets (keep the public ID) in anything we return."""
    return TOKEN_ANYWHERE_RE.sub(lambda m: m.group(1) + ".<redacted>", text or "")


# --------------------------------------------------------------------------- version
VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")


def parse_version(text):
    """Parse ``kubeadm version -o json`` / ``-o short`` output or a version string into a dict."""
    text = (text or "").strip()
    if text.startswith("{"):
        info = json.loads(text).get("clientVersion") or {}
        text = info.get("gitVersion", "")
    m = VERSION_RE.match(text)
    if not m:
        raise GroundworkError("cannot parse a Kubernetes version from %r" % text[:80])
    return {"version": "v%s.%s.%s" % m.group(1, 2, 3) + ("-" + m.group(4) if m.group(4) else ""),
            "major": int(m.group(1)), "minor": int(m.group(2)), "patch": int(m.group(3)),
            "pre": m.group(4) or ""}


# --------------------------------------------------------------------------- state
def initialised(paths_exist):
    """A control plane is initialised when admin.conf and the API server manifest exist.
    (admin.conf alone is not enough: our PKI role writes it before kubeadm runs.)"""
    return bool(paths_exist.get("admin_conf") and paths_exist.get("apiserver_manifest"))


def join_decision(kubelet_conf, node_registered, control_plane, apiserver_manifest):
    """Return (action, message): action is 'join', 'none' or 'fail'.

    kubelet_conf: /etc/kubernetes/kubelet.conf exists; node_registered: True/False from the API
    (None when unknown); apiserver_manifest: the node runs a control-plane instance.
    """
    if not kubelet_conf:
        return "join", "node has no kubelet.conf: it will join"
    if node_registered is False:
        return "fail", ("node has /etc/kubernetes/kubelet.conf but the cluster has no Node object for it: "
                        "it belongs to another (or a reset) cluster; reset it (playbooks/reset.yml --limit) and re-run")
    if control_plane and not apiserver_manifest:
        return "fail", ("node joined as a worker but is listed as a control plane: remove it "
                        "(playbooks/remove_node.yml), reset it and re-run")
    return "none", "node already joined"


def kubeadm_error(stderr, stdout=""):
    """The line kubeadm prints as ``error: ...`` (its failure message), else the last non-empty line."""
    for line in (stderr or "").splitlines():
        if line.startswith("error: "):
            return redact(line[len("error: "):])
    lines = [x for x in ((stderr or "") + "\n" + (stdout or "")).splitlines() if x.strip()]
    return redact(lines[-1]) if lines else "no output"


_KLOG_WARNING = re.compile(r"^W\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.-]+:\d+\] (.+)$")
_PREFLIGHT_WARNING = re.compile(r"^\s*\[WARNING ([^\]]+)\]: (.+)$")


def kubeadm_warnings(stderr):
    """kubeadm's warnings, in order, each once, secrets redacted: preflight ``[WARNING Check]: ...`` lines and
    klog ``W...`` lines (e.g. "a kubeconfig file ... exists already but has an unexpected API Server URL")."""
    found = []
    for line in (stderr or "").splitlines():
        m = _PREFLIGHT_WARNING.match(line)
        text = ("preflight %s: %s" % m.groups()) if m else None
        if text is None:
            m = _KLOG_WARNING.match(line)
            text = m.group(1).strip() if m else None
        if text and redact(text) not in found:
            found.append(redact(text))
    return found


class Kubeadm(Runner):
    """``kubeadm`` with argv lists and C locale; failures carry kubeadm's own error line."""

    def run(self, args, check=True, data=None, env=None):
        rc, out, err = super().run(args, check=False, data=data, env=env)
        if check and rc != 0:
            raise ToolError("kubeadm %s failed (rc=%s): %s" % (args[0] if args else "", rc, kubeadm_error(err, out)),
                            argv=[self.binary] + [redact(str(a)) for a in args], rc=rc,
                            stdout=redact(out), stderr=redact(err))
        return rc, out, err

    def version(self):
        return parse_version(self.run(["version", "-o", "json"])[1])

    def validate(self, config_path):
        self.run(["config", "validate", "--config", config_path])

    def token_list(self, kubeconfig):
        return parse_token_list(self.run(["token", "list", "-o", "json", "--kubeconfig", kubeconfig])[1])


# --------------------------------------------------------------------------- actions (used by the modules)
def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def init_action(p, kubeadm, check_mode, write):
    """Decide and (unless check_mode) run ``kubeadm init``. ``write(path, bytes, mode)`` writes atomically.

    Returns the module result. A node counts as initialised when admin.conf and the API server
    manifest exist; then nothing runs and a differing config is reported as drift (kubeadm init
    does not reconfigure a running cluster)."""
    content = dump_docs(p["config"])
    old = _read(p["config_path"])
    state = {"admin_conf": os.path.exists(os.path.join(p["kubeconfig_dir"], "admin.conf")),
             "apiserver_manifest": os.path.exists(os.path.join(p["manifest_dir"], "kube-apiserver.yaml"))}
    res = {"changed": False, "initialised": initialised(state), "config_path": p["config_path"],
           "diff": {"before": {"initialised": initialised(state), "config": old or ""},
                    "after": {"initialised": True, "config": content}}}
    if res["initialised"]:
        res["diff"]["after"]["config"] = old or ""
        res["config_drift"] = old is not None and old != content
        return res
    res["changed"] = True
    if check_mode:
        return res
    write(p["config_path"], content.encode(), 0o600)
    if p.get("validate", True):
        kubeadm.validate(p["config_path"])
    args = ["init", "--config", p["config_path"]]
    if p.get("skip_phases"):
        args.append("--skip-phases=" + ",".join(p["skip_phases"]))
    rc, out, err = kubeadm.run(args)
    res["initialised"] = True
    res["stdout_lines"] = redact(out).splitlines()
    res["stderr_lines"] = redact(err).splitlines()
    res["kubeadm_warnings"] = kubeadm_warnings(err)
    return res


def token_action(p, kubeadm, check_mode, now=None, ca_pem=None):
    """present: reuse a valid token with our description and >= min_ttl left, else create one;
    absent: delete the tokens with our description (or the given token)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    tokens = kubeadm.token_list(p["kubeconfig"])
    res = {"changed": False}
    if p["state"] == "absent":
        if p.get("token"):
            ids = [token_id(p["token"])]
            ids = [i for i in ids if any(t["token"].startswith(i + ".") for t in tokens)]
        else:
            ids = [t["token"].split(".")[0] for t in tokens if t.get("description", "") == p["description"]]
        res.update(changed=bool(ids), deleted=ids, diff={"before": {"tokens": ids}, "after": {"tokens": []}})
        if ids and not check_mode:
            kubeadm.run(["token", "delete"] + ids + ["--kubeconfig", p["kubeconfig"]])
        return res
    min_ttl = duration_seconds(p["min_ttl"])
    ttl = duration_seconds(p["ttl"])
    if ttl and ttl <= min_ttl:
        raise GroundworkError("ttl (%ss) must be longer than min_ttl (%ss), or a new token is never reusable" % (ttl, min_ttl))
    found = pick_reusable_token(tokens, p["description"], min_ttl, now, p["usages"], p["groups"])
    if found:
        token, expires, reused = found["token"], found.get("expires"), True
    else:
        token, reused = new_token(), False
        expires = (now + datetime.timedelta(seconds=ttl)).strftime("%Y-%m-%dT%H:%M:%SZ") if ttl else None
        res["changed"] = True
        if not check_mode:
            kubeadm.run(["token", "create", token, "--ttl", "%ds" % ttl, "--description", p["description"],
                         "--usages", ",".join(p["usages"]), "--groups", ",".join(p["groups"]),
                         "--kubeconfig", p["kubeconfig"]])
    res.update(token=token, token_id=token.split(".")[0], expires=expires, reused=reused,
               diff={"before": {"token_id": token.split(".")[0] if reused else None},
                     "after": {"token_id": token.split(".")[0], "expires": expires}})
    if ca_pem is not None:
        res["join"] = {"api_server_endpoint": p["api_server_endpoint"], "token": token,
                       "ca_cert_hashes": ca_cert_hashes(ca_pem)}
    return res


def join_action(p, kubeadm, check_mode, write, remove):
    """Join this node unless it has joined; fail with kubeadm's own message when the join fails."""
    kubelet_conf = os.path.exists(p["kubelet_conf"])
    manifest = os.path.exists(os.path.join(p["manifest_dir"], "kube-apiserver.yaml"))
    action, message = join_decision(kubelet_conf, p.get("node_registered"), p["control_plane"], manifest)
    docs = render_join(p)
    res = {"changed": action == "join", "msg": message, "control_plane": p["control_plane"],
           "diff": {"before": {"joined": kubelet_conf}, "after": {"joined": True, "control_plane": p["control_plane"]}}}
    if action == "fail":
        raise GroundworkError(message)
    if action == "none" or check_mode:
        return res
    path = p["config_path"]
    write(path, dump_docs(docs).encode(), 0o600)
    try:
        rc, out, err = kubeadm.run(["join", "--config", path], check=False)
    finally:
        remove(path)  # the file holds the token: never leave it on disk
    if rc != 0:
        raise ToolError("kubeadm join failed: %s" % kubeadm_error(err, out), argv=["kubeadm", "join", "--config", path],
                        rc=rc, stdout=redact(out), stderr=redact(err))
    res["stdout_lines"] = redact(out).splitlines()
    res["kubeadm_warnings"] = kubeadm_warnings(err)
    return res
