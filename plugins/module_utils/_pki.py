# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""The kubeadm PKI as data and plain functions (on ``cryptography``).

Profiles follow what a real kubeadm writes (``fixtures/kubeadm/pki``): subjects, SANs, key
usages, extended key usages, basic constraints, validity (CA notBefore = creation - 5 min,
leaves inherit the CA's notBefore), issuer, random 63-bit serials, SKI on CAs, AKI on leaves.

Everything is decided in memory first (:func:`plan_cluster_pki`, :func:`plan_kubeconfigs`);
nothing is written until every input is validated and every target path is known to be
writable (:func:`apply_writes`). Summaries never contain key material.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import os
import re
import secrets
import traceback

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils import _io
from ansible_collections.groundwork.k8s.plugins.module_utils._rotation import SIGNER_FILE

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
except ImportError:  # pragma: no cover - reported by the modules through missing_required_lib
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

YAML_IMPORT_ERROR = None
try:
    import yaml
except ImportError:  # pragma: no cover
    YAML_IMPORT_ERROR = traceback.format_exc()

KEY_TYPES = ("rsa2048", "rsa3072", "rsa4096", "ecdsa256", "ecdsa384")
DEFAULT_KEY_TYPE = "rsa2048"
CA_VALIDITY_DAYS = 3650
LEAF_VALIDITY_DAYS = 365
RENEW_THRESHOLD_DAYS = 30
BACKDATE = datetime.timedelta(minutes=5)
SERIAL_MAX = 2 ** 63 - 1  # kubeadm: crypto/rand.Int(max int64)

# name -> (path below pki_dir without extension, common name)
CAS = {
    "ca": ("ca", "kubernetes"),
    "front-proxy-ca": ("front-proxy-ca", "front-proxy-ca"),
    "etcd-ca": ("etcd/ca", "etcd-ca"),
}

# name -> (path, CN (``{node}`` = node name), organisations, signing CA, usages, SAN kind)
LEAVES = {
    "apiserver": ("apiserver", "kube-apiserver", (), "ca", ("server",), "apiserver"),
    "apiserver-kubelet-client": ("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                 ("kubeadm:cluster-admins",), "ca", ("client",), None),
    "apiserver-etcd-client": ("apiserver-etcd-client", "kube-apiserver-etcd-client", (), "etcd-ca", ("client",), None),
    "front-proxy-client": ("front-proxy-client", "front-proxy-client", (), "front-proxy-ca", ("client",), None),
    "etcd-server": ("etcd/server", "{node}", (), "etcd-ca", ("server", "client"), "etcd"),
    "etcd-peer": ("etcd/peer", "{node}", (), "etcd-ca", ("server", "client"), "etcd"),
    "etcd-healthcheck-client": ("etcd/healthcheck-client", "kube-etcd-healthcheck-client", (), "etcd-ca",
                                ("client",), None),
}

# kubeconfig file name (without .conf) -> (user CN, organisations, server: "endpoint" or "local")
KUBECONFIGS = {
    "admin": ("kubernetes-admin", ("kubeadm:cluster-admins",), "endpoint"),
    "super-admin": ("kubernetes-super-admin", ("system:masters",), "endpoint"),
    "controller-manager": ("system:kube-controller-manager", (), "local"),
    "scheduler": ("system:kube-scheduler", (), "local"),
    "kubelet": ("system:node:{node}", ("system:nodes",), "local"),
}

# What each module profile manages: CAs (created when absent and allowed), SA keys, leaves.
PROFILES = {
    "control_plane": {
        "cas": ("ca", "front-proxy-ca"), "sa": True,
        "leaves": ("apiserver", "apiserver-kubelet-client", "front-proxy-client"),
    },
    "etcd": {
        "cas": ("etcd-ca",), "sa": False,
        "leaves": ("etcd-server", "etcd-peer", "etcd-healthcheck-client"),
    },
    "both": {
        "cas": ("ca", "front-proxy-ca", "etcd-ca"), "sa": True,
        "leaves": ("apiserver", "apiserver-kubelet-client", "front-proxy-client", "etcd-server", "etcd-peer",
                   "etcd-healthcheck-client", "apiserver-etcd-client"),
    },
    # A control plane talking to external etcd: etcd/ca.crt (the key is used, never stored)
    # and its own apiserver-etcd-client.
    "etcd_client": {
        "cas": ("etcd-ca",), "sa": False, "leaves": ("apiserver-etcd-client",), "ca_key_stays_off_disk": True,
    },
}

CA_KEY_USAGE = dict(digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False)
LEAF_KEY_USAGE = dict(CA_KEY_USAGE, key_cert_sign=False)

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
_LOOKS_LIKE_IP = re.compile(r"^[0-9.]+$|:")


def require_libs():
    """Raise GroundworkError when cryptography or PyYAML is missing on the target."""
    if CRYPTOGRAPHY_IMPORT_ERROR:
        raise GroundworkError("the Python library cryptography is required on the target host",
                              exception=CRYPTOGRAPHY_IMPORT_ERROR)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _aware(value):
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def not_before(cert):
    """notBefore as an aware UTC datetime (cryptography < 42, as on Debian 12, lacks ``*_utc``)."""
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else _aware(cert.not_valid_before)


def not_after(cert):
    """notAfter as an aware UTC datetime, on old and new cryptography alike."""
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else _aware(cert.not_valid_after)


# ---------------------------------------------------------------- keys

def generate_key(key_type):
    """A new private key of ``key_type`` (one of KEY_TYPES)."""
    check_key_type(key_type)
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    return ec.generate_private_key(ec.SECP256R1() if key_type == "ecdsa256" else ec.SECP384R1())


def check_key_type(key_type):
    if key_type not in KEY_TYPES:
        raise GroundworkError("unknown key type %r: use one of %s" % (key_type, ", ".join(KEY_TYPES)))


def key_type_of(key):
    """KEY_TYPES name of a private or public key, or a description for anything else."""
    pub = key.public_key() if hasattr(key, "public_key") and not hasattr(key, "public_bytes") else key
    if isinstance(pub, rsa.RSAPublicKey):
        return "rsa%d" % pub.key_size
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa256", "secp384r1": "ecdsa384"}.get(pub.curve.name, "ecdsa-" + pub.curve.name)
    return type(pub).__name__


def key_pem(key):
    """PEM of a private key as kubeadm writes it (PKCS#1 RSA / SEC1 EC, unencrypted)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_key(pem, what="private key"):
    """Parse a PEM private key; GroundworkError (without the material) when it is not one."""
    if pem is None:
        return None
    if isinstance(pem, str):
        pem = pem.encode()
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise GroundworkError("%s is not an unencrypted PEM private key (%s)" % (what, type(exc).__name__))


def _spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert, key):
    return _spki(cert.public_key()) == _spki(key.public_key())


# ---------------------------------------------------------------- certificates

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def _load_pem_bundle(pem):
    """x509.load_pem_x509_certificates where it exists (cryptography >= 39), else one by one."""
    if hasattr(x509, "load_pem_x509_certificates"):
        return x509.load_pem_x509_certificates(pem)
    return [x509.load_pem_x509_certificate(block) for block in _PEM_CERT.findall(pem)]


def load_certs(pem, what="certificate"):
    """All certificates of a PEM bundle (str or bytes), in order; GroundworkError when none."""
    if pem is None:
        return []
    if isinstance(pem, str):
        pem = pem.encode()
    try:
        certs = _load_pem_bundle(pem)
    except ValueError:
        certs = []
    if not certs:
        raise GroundworkError("%s is not a PEM certificate" % what)
    return certs


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def ca_cert_hash(pem):
    """kubeadm's discovery hash ``sha256:<hex>`` of the first certificate's SubjectPublicKeyInfo.

    ``pem`` may be PEM text/bytes, or base64 of a PEM (kubeconfig ``certificate-authority-data``).
    """
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    text = (pem or "").strip()
    if text and "-----BEGIN" not in text:
        try:
            text = base64.b64decode(text, validate=False).decode("ascii", "replace")
        except ValueError:
            raise GroundworkError("ca_cert_hash: input is neither a PEM certificate nor base64 of one")
    cert = load_certs(text, "ca_cert_hash input")[0]
    return "sha256:" + hashlib.sha256(_spki(cert.public_key())).hexdigest()


def _hash_for(signing_key):
    if isinstance(signing_key, ec.EllipticCurvePrivateKey) and signing_key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def _name(cn, orgs=()):
    # Go orders O before CN in the DER; RFC 4514 prints it reversed: CN=...,O=...
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _serial():
    return secrets.randbelow(SERIAL_MAX) + 1


def make_ca(cn, key, now, validity_days=CA_VALIDITY_DAYS):
    """A self-signed CA exactly as kubeadm makes one (SAN = DNS:<cn>, SKI, no EKU)."""
    name = _name(cn)
    builder = (x509.CertificateBuilder()
               .subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(_serial())
               .not_valid_before(now - BACKDATE)
               .not_valid_after(now + datetime.timedelta(days=validity_days))
               .add_extension(x509.KeyUsage(**CA_KEY_USAGE), critical=True)
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False))
    return builder.sign(key, _hash_for(key))


def _aki(ca_cert):
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())


def issue_leaf(spec, key, ca_cert, ca_key, now, validity_days=LEAF_VALIDITY_DAYS):
    """Sign a leaf for ``spec`` (see :func:`leaf_spec`) like kubeadm: notBefore = CA notBefore."""
    eku = []
    if "server" in spec["usages"]:
        eku.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if "client" in spec["usages"]:
        eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(spec["cn"], spec["orgs"])).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(_serial())
               .not_valid_before(min(not_before(ca_cert), now))
               .not_valid_after(now + datetime.timedelta(days=validity_days))
               .add_extension(x509.KeyUsage(**LEAF_KEY_USAGE), critical=True)
               .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(_aki(ca_cert), critical=False))
    sans = [x509.DNSName(d) for d in spec["dns"]] + [x509.IPAddress(ipaddress.ip_address(i)) for i in spec["ips"]]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key))


# ---------------------------------------------------------------- profiles

def split_endpoint(endpoint):
    """``host:port`` / ``host`` / ``[v6]:port`` -> (host, port or None)."""
    endpoint = (endpoint or "").strip()
    if not endpoint:
        return None, None
    if endpoint.startswith("["):
        host, dummy, rest = endpoint[1:].partition("]")
        return host, (rest[1:] if rest.startswith(":") else None)
    if endpoint.count(":") == 1:
        host, port = endpoint.split(":")
        return host, port
    return endpoint, None


def _url(host, port):
    if ":" in host:
        host = "[%s]" % host
    return "https://%s:%s" % (host, port)


def parse_san(value, what="SAN"):
    """Classify one SAN: returns ("IP", "10.0.0.1") or ("DNS", "name"); GroundworkError if malformed."""
    text = str(value).strip()
    kind = None
    if text[:3].upper() == "IP:":
        kind, text = "IP", text[3:]
    elif text[:4].upper() == "DNS:":
        kind, text = "DNS", text[4:]
    if kind == "IP" or (kind is None and _LOOKS_LIKE_IP.search(text)):
        try:
            return "IP", str(ipaddress.ip_address(text))
        except ValueError:
            raise GroundworkError("malformed IP address in %s: %r (expected an IPv4 or IPv6 address)" % (what, value))
    name = text[2:] if text.startswith("*.") else text
    if not name or len(name) > 253 or not all(_DNS_LABEL.match(label) for label in name.split(".")):
        raise GroundworkError("malformed DNS name in %s: %r (RFC 1123 names only, optional leading '*.')" % (what, value))
    return "DNS", text.lower()


def _merge_sans(entries, what):
    dns, ips = [], []
    for entry in entries:
        kind, value = parse_san(entry, what)
        target = dns if kind == "DNS" else ips
        if value not in target:
            target.append(value)
    return sorted(dns), ips


def first_service_ip(service_subnet):
    primary = str(service_subnet or "10.96.0.0/12").split(",", maxsplit=1)[0].strip()
    try:
        net = ipaddress.ip_network(primary, strict=False)
    except ValueError:
        raise GroundworkError("malformed service_subnet %r: expected a CIDR like 10.96.0.0/12" % service_subnet)
    return str(net.network_address + 1)


def leaf_spec(name, params):
    """The desired profile of leaf ``name`` for this host: dict(name, path, cn, orgs, ca, usages, dns, ips).

    ``params``: node_name, advertise_address, control_plane_endpoint, service_subnet, dns_domain,
    apiserver_cert_extra_sans, etcd_cert_extra_sans.
    """
    path, cn, orgs, ca, usages, sans = LEAVES[name]
    node = params.get("node_name")
    spec = dict(name=name, path=path, cn=cn, orgs=tuple(orgs), ca=ca, usages=tuple(usages), dns=(), ips=())
    if "{node}" in cn or sans:
        if not node:
            raise GroundworkError("node_name is required for %s" % name)
        spec["cn"] = cn.format(node=node)
    if sans:
        address = params.get("advertise_address")
        if not address:
            raise GroundworkError("advertise_address is required for %s" % name)
        kind, address = parse_san(address, "advertise_address")
        if kind != "IP":
            raise GroundworkError("advertise_address must be an IP address, got %r" % params.get("advertise_address"))
        if sans == "apiserver":
            domain = params.get("dns_domain") or "cluster.local"
            entries = [node, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.%s" % domain,
                       "IP:" + first_service_ip(params.get("service_subnet")), "IP:" + address]
            host = split_endpoint(params.get("control_plane_endpoint"))[0]
            if host:
                entries.append(host)
            entries += list(params.get("apiserver_cert_extra_sans") or [])
        else:
            entries = [node, "localhost", "IP:" + address, "IP:127.0.0.1", "IP:::1"]
            entries += list(params.get("etcd_cert_extra_sans") or [])
        spec["dns"], spec["ips"] = _merge_sans(entries, "%s SANs" % name)
        spec["dns"], spec["ips"] = tuple(spec["dns"]), tuple(spec["ips"])
    return spec


def kubeconfig_spec(name, params):
    """Desired kubeconfig ``name``: dict(name, file, cn, orgs, ca, usages, dns, ips, server, cluster, user)."""
    if name not in KUBECONFIGS:
        raise GroundworkError("unknown kubeconfig %r: use one of %s" % (name, ", ".join(KUBECONFIGS)))
    cn, orgs, where = KUBECONFIGS[name]
    node = params.get("node_name")
    if "{node}" in cn:
        if not node:
            raise GroundworkError("node_name is required for kubelet.conf")
        cn = cn.format(node=node)
    port = params.get("bind_port") or 6443
    local = None
    if params.get("advertise_address"):
        kind, address = parse_san(params["advertise_address"], "advertise_address")
        if kind != "IP":
            raise GroundworkError("advertise_address must be an IP address")
        local = _url(address, port)
    endpoint = None
    host, eport = split_endpoint(params.get("control_plane_endpoint"))
    if host:
        parse_san(host, "control_plane_endpoint")
        endpoint = _url(host, eport or port)
    server = (local or endpoint) if where == "local" else (endpoint or local)
    if not server:
        raise GroundworkError("control_plane_endpoint or advertise_address is required for %s.conf" % name)
    return dict(name=name, file=name + ".conf", path=name, cn=cn, orgs=tuple(orgs), ca="ca", usages=("client",),
                dns=(), ips=(), server=server, cluster=params.get("cluster_name") or "kubernetes", user=cn)


# ---------------------------------------------------------------- reading certificates back

_KU_NAMES = (("digital_signature", "digitalSignature"), ("content_commitment", "nonRepudiation"),
             ("key_encipherment", "keyEncipherment"), ("data_encipherment", "dataEncipherment"),
             ("key_agreement", "keyAgreement"), ("key_cert_sign", "keyCertSign"), ("crl_sign", "cRLSign"))
_EXT_NAMES = {
    ExtensionOID.KEY_USAGE: "keyUsage", ExtensionOID.EXTENDED_KEY_USAGE: "extendedKeyUsage",
    ExtensionOID.BASIC_CONSTRAINTS: "basicConstraints", ExtensionOID.SUBJECT_KEY_IDENTIFIER: "subjectKeyIdentifier",
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "authorityKeyIdentifier",
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: "subjectAltName",
} if not CRYPTOGRAPHY_IMPORT_ERROR else {}
_EKU_NAMES = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
              ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"} if not CRYPTOGRAPHY_IMPORT_ERROR else {}


def _ext(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def cert_sans(cert):
    ext = _ext(cert, x509.SubjectAlternativeName)
    if ext is None:
        return []
    return (["DNS:" + d for d in ext.value.get_values_for_type(x509.DNSName)]
            + ["IP:" + str(i) for i in ext.value.get_values_for_type(x509.IPAddress)])


def _cn(name):
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else ""


def _key_desc(pub):
    if isinstance(pub, rsa.RSAPublicKey):
        return "RSA %d" % pub.key_size
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "ECDSA %s" % pub.curve.name
    return type(pub).__name__


def _duration(seconds):
    days, rest = divmod(int(seconds), 86400)
    return "%dd %dh%02dm" % (days, rest // 3600, (rest % 3600) // 60)


def describe(cert, now=None):
    """A summary of a certificate in the fields of the fixtures' summary.json (never key material)."""
    now = now or utcnow()
    ku = _ext(cert, x509.KeyUsage)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    bc = _ext(cert, x509.BasicConstraints)
    nb, na = not_before(cert), not_after(cert)
    sig = cert.signature_algorithm_oid._name  # pylint: disable=protected-access
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_cn": _cn(cert.issuer),
        "self_signed": cert.subject == cert.issuer,
        "sans": cert_sans(cert),
        "key_usage": [label for attr, label in _KU_NAMES if ku and getattr(ku.value, attr)],
        "ext_key_usage": [_EKU_NAMES.get(o, o.dotted_string) for o in (eku.value if eku else [])],
        "basic_constraints": ("CA:%s%s" % ("TRUE" if bc.value.ca else "FALSE", " (critical)" if bc.critical else "")
                              if bc else ""),
        "not_before": nb.isoformat(),
        "not_after": na.isoformat(),
        "validity_seconds": int((na - nb).total_seconds()),
        "validity": _duration((na - nb).total_seconds()),
        "days_left": int((na - now).total_seconds() // 86400),
        "key": _key_desc(cert.public_key()),
        "signature_algorithm": sig,
        "serial": "%x" % cert.serial_number,
        "serial_bits": cert.serial_number.bit_length(),
        "extensions": ["%s%s" % (_EXT_NAMES.get(e.oid, e.oid.dotted_string), " (critical)" if e.critical else "")
                       for e in cert.extensions],
        "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
    }


def _spec_usages(cert):
    eku = _ext(cert, x509.ExtendedKeyUsage)
    names = set(_EKU_NAMES.get(o, o.dotted_string) for o in (eku.value if eku else []))
    return tuple(u for u, label in (("server", "serverAuth"), ("client", "clientAuth")) if label in names)


def issued_by(cert, ca_cert):
    """True when ``cert`` carries ``ca_cert``'s subject as issuer and its signature verifies."""
    try:
        if hasattr(cert, "verify_directly_issued_by"):
            cert.verify_directly_issued_by(ca_cert)
            return True
        # cryptography < 40 (Debian 12 ships 38): the same two checks by hand.
        if cert.issuer != ca_cert.subject:
            return False
        public = ca_cert.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            return False
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def needs_issue(cert, key, spec, ca_cert, key_type, threshold_days, now):
    """Why the leaf ``spec`` must be (re)issued; an empty list when the existing one is fine.

    ``cert``/``key``: what is on disk (parsed, or None); ``ca_cert``: the current issuing CA.
    """
    if cert is None:
        return ["certificate missing"]
    if key is None:
        return ["private key missing"]
    reasons = []
    if not key_matches(cert, key):
        reasons.append("private key does not match the certificate")
    if key_type and key_type_of(cert.public_key()) != key_type:
        reasons.append("key type is %s, wanted %s" % (key_type_of(cert.public_key()), key_type))
    want_subject = _name(spec["cn"], spec["orgs"])
    if cert.subject != want_subject:
        reasons.append("subject is %s, wanted %s" % (cert.subject.rfc4514_string(), want_subject.rfc4514_string()))
    have = set(cert_sans(cert))
    want = set(["DNS:" + d for d in spec["dns"]] + ["IP:" + i for i in spec["ips"]])
    if have != want:
        reasons.append("SANs differ: missing %s, unwanted %s" % (sorted(want - have), sorted(have - want)))
    if _spec_usages(cert) != tuple(spec["usages"]):
        reasons.append("extended key usage differs")
    bc = _ext(cert, x509.BasicConstraints)
    if bc is None or bc.value.ca:
        reasons.append("basic constraints differ (a leaf must be CA:FALSE)")
    if ca_cert is not None and not issued_by(cert, ca_cert):
        reasons.append("not signed by the current %s (issuer %s)" % (spec["ca"], cert.issuer.rfc4514_string()))
    left = not_after(cert) - now
    if left.total_seconds() <= 0:
        reasons.append("expired on %s" % not_after(cert).isoformat())
    elif left < datetime.timedelta(days=threshold_days):
        reasons.append("expires in %d days (renew threshold %d days)" % (left.days, threshold_days))
    if not_before(cert) > now + BACKDATE:
        reasons.append("not valid before %s" % not_before(cert).isoformat())
    return reasons


# ---------------------------------------------------------------- CAs

def validate_ca(certs, key, name, now, require_root=False):
    """Refuse a CA that cannot work: key mismatch, not a CA, no keyCertSign, outside its validity, broken chain.

    ``certs``: the CA first, then its chain up to a root, then possibly other self-signed roots (``ca.crt``
    during a CA rotation holds the old and the new root). ``require_root``: the chain must end in a self-signed root
    (bring-your-own CA material: an intermediate given
    without its chain would lose the chain to the offline root on every node).
    """
    cert = certs[0]
    subject = cert.subject.rfc4514_string()
    if key is not None and not key_matches(cert, key):
        raise GroundworkError("%s: the CA certificate (%s) and the CA private key do not match" % (name, subject))
    bc = _ext(cert, x509.BasicConstraints)
    if bc is None or not bc.value.ca:
        raise GroundworkError("%s: certificate %s is not a CA (basicConstraints CA:TRUE missing)" % (name, subject))
    ku = _ext(cert, x509.KeyUsage)
    if ku is None or not ku.value.key_cert_sign:
        raise GroundworkError("%s: CA certificate %s lacks the keyCertSign key usage" % (name, subject))
    if not_after(cert) <= now:
        raise GroundworkError("%s: CA certificate %s expired on %s" % (name, subject, not_after(cert).isoformat()))
    if not_before(cert) > now:
        raise GroundworkError("%s: CA certificate %s is not valid before %s" % (
            name, subject, not_before(cert).isoformat()))
    end = 0  # the chain: each certificate signed by the next, up to a root
    while end + 1 < len(certs) and issued_by(certs[end], certs[end + 1]):
        end += 1
    last = certs[end]
    is_root = last.issuer == last.subject and issued_by(last, last)
    for extra in certs[end + 1:]:
        # after the chain's root, only other self-signed roots: ca.crt during a CA rotation (old + new)
        if not is_root or not (extra.issuer == extra.subject and issued_by(extra, extra)):
            child, parent = certs[end], extra
            raise GroundworkError("%s: chain broken: %s is not signed by %s" % (
                name, child.subject.rfc4514_string(), parent.subject.rfc4514_string()))
    if require_root and not is_root:
        raise GroundworkError(
            "%s: the CA certificate given is an intermediate (%s, issued by %s) and its bundle stops there: the chain "
            "to the root would be lost on every node. Fix: append the issuing CA certificates up to the self-signed "
            "root to the CA certificate you set (PEM, this CA first, root last)" % (
                name, last.subject.rfc4514_string(), last.issuer.rfc4514_string()))


class CaState:
    """One CA as resolved for this run: cert (the issuing one), bundle bytes, key or None (external)."""

    def __init__(self, name, cert, bundle, key, action, reasons=()):
        self.name = name
        self.cert = cert
        self.bundle = bundle
        self.key = key
        self.action = action
        self.reasons = list(reasons)

    @property
    def external(self):
        return self.key is None


def resolve_ca(name, disk_cert, disk_key, given_cert, given_key, key_type, now, validity_days,
               create=True, store_key=True):
    """Decide what happens to CA ``name``. Returns (CaState, writes) — writes: [(relpath, bytes, mode)].

    A CA on disk is never replaced: given material must be the same certificate (and key).
    Without a key anywhere the CA is external: leaves are reported, not issued.
    """
    path = CAS[name][0]
    writes = []
    if given_key is not None and given_cert is None:
        raise GroundworkError("%s: a CA key was given without its certificate" % name)
    if given_cert is not None:
        certs = load_certs(given_cert, "%s certificate" % name)
        key = load_key(given_key, "%s private key" % name) if given_key is not None else None
        validate_ca(certs, key, name, now, require_root=True)
        bundle = b"".join(cert_pem(c) for c in certs)
        action = "unchanged"
        if disk_cert is not None:
            on_disk = load_certs(disk_cert, "%s certificate on disk" % name)
            if on_disk[0] != certs[0]:
                raise GroundworkError(
                    "%s: the CA on disk (%s, serial %x) differs from the one given; a CA is never replaced "
                    "silently: rotate it with playbooks/rotate_ca.yml or remove %s.crt yourself" % (
                        name, on_disk[0].subject.rfc4514_string(), on_disk[0].serial_number, path))
            if [c.public_bytes(serialization.Encoding.DER) for c in on_disk] != [
                    c.public_bytes(serialization.Encoding.DER) for c in certs]:
                writes.append((path + ".crt", bundle, 0o644))
                action = "chain updated"
        else:
            writes.append((path + ".crt", bundle, 0o644))
            action = "written"
        if key is not None and store_key:
            if disk_key is not None:
                if not key_matches(certs[0], load_key(disk_key, "%s.key on disk" % path)):
                    raise GroundworkError("%s: %s.key on disk does not match the CA certificate; refusing to replace it"
                                          % (name, path))
            else:
                writes.append((path + ".key", key_pem(key), 0o600))
                action = "written" if action == "unchanged" else action
        return CaState(name, certs[0], bundle, key, action), writes
    if disk_cert is not None:
        certs = load_certs(disk_cert, "%s.crt on disk" % path)
        key = load_key(disk_key, "%s.key on disk" % path) if disk_key is not None else None
        validate_ca(certs, key, name, now)
        return CaState(name, certs[0], disk_cert, key, "unchanged"), writes
    if disk_key is not None:
        raise GroundworkError("%s: %s.key exists without %s.crt; restore the certificate or remove the key" % (
            name, path, path))
    if not create:
        raise GroundworkError("%s: no CA on this host and none given: pass the CA from the first host" % name)
    key = generate_key(key_type)
    cert = make_ca(CAS[name][1], key, now, validity_days)
    writes.append((path + ".crt", cert_pem(cert), 0o644))
    if store_key:
        writes.append((path + ".key", key_pem(key), 0o600))
    return CaState(name, cert, cert_pem(cert), key, "created", ["CA missing"]), writes


# ---------------------------------------------------------------- plans

class Plan:
    """What one run would do: ``writes`` [(abs path, bytes, mode)], per-item ``report``, ``diff``."""

    def __init__(self):
        self.writes = []
        self.report = {}
        self.before = {}
        self.after = {}
        self.due_external = []
        self.warnings = []
        self.cas = {}

    @property
    def changed(self):
        return bool(self.writes)

    def add(self, base, relpath, content, mode):
        self.writes.append((os.path.join(base, relpath), content, mode))


def read_file(path):
    """Content of ``path``, or None when it (or a parent) does not exist; unreadable -> GroundworkError."""
    try:
        return _io.read_bytes(path)
    except NotADirectoryError:
        return None
    except OSError as exc:
        raise GroundworkError("cannot read %s: %s" % (path, exc.strerror or exc))


def _parse_disk_cert(data, path):
    if data is None:
        return None
    try:
        return load_certs(data, path)[0]
    except GroundworkError:
        return None  # unreadable garbage is reissued, not a hard error


def _parse_disk_key(data, path):
    if data is None:
        return None
    try:
        return load_key(data, path)
    except GroundworkError:
        return None


def _material(params, name):
    value = params.get(name.replace("-", "_")) or {}
    return value.get("cert"), value.get("key")


def ca_hash_of(plan, name="ca"):
    """Discovery hash of CA ``name`` as it is (or will be) after the plan, or None."""
    cert = plan.cas.get(name)
    return ca_cert_hash(cert_pem(cert)) if cert is not None else None


def plan_cluster_pki(params, reader=None, now=None):
    """The plan for one host's certificate set (module ``cluster_pki``). Validates everything first.

    params: pki_dir, profile, key_type, node_name, advertise_address, control_plane_endpoint,
    service_subnet, dns_domain, apiserver_cert_extra_sans, etcd_cert_extra_sans, validity_days,
    ca_validity_days, renew_threshold_days, force_renew, ca / front_proxy_ca / etcd_ca
    ({cert, key}), sa_key.
    """
    require_libs()
    reader = reader or read_file
    now = now or utcnow()
    key_type = params.get("key_type") or DEFAULT_KEY_TYPE
    check_key_type(key_type)
    profile_name = params.get("profile") or "control_plane"
    if profile_name not in PROFILES:
        raise GroundworkError("unknown profile %r: use one of %s" % (profile_name, ", ".join(PROFILES)))
    profile = PROFILES[profile_name]
    pki_dir = params.get("pki_dir") or "/etc/kubernetes/pki"
    threshold = int(params.get("renew_threshold_days", RENEW_THRESHOLD_DAYS))
    force = set(params.get("force_renew") or [])
    unknown = force - set(LEAVES) - set(KUBECONFIGS)
    if unknown:
        raise GroundworkError("force_renew: unknown certificate(s) %s; CAs are rotated by rotate_ca.yml, not renewed"
                              % ", ".join(sorted(unknown)))
    specs = [leaf_spec(n, params) for n in profile["leaves"]]  # validates SANs before anything else
    plan = Plan()
    cas = {}
    for name in profile["cas"]:
        path = CAS[name][0]
        given_cert, given_key = _material(params, name)
        state, writes = resolve_ca(
            name, reader(os.path.join(pki_dir, path + ".crt")), reader(os.path.join(pki_dir, path + ".key")),
            given_cert, given_key, key_type, now, int(params.get("ca_validity_days") or CA_VALIDITY_DAYS),
            create=not profile.get("ca_key_stays_off_disk"), store_key=not profile.get("ca_key_stays_off_disk"))
        cas[name] = state
        plan.cas[name] = state.cert
        for relpath, content, mode in writes:
            plan.add(pki_dir, relpath, content, mode)
        summary = describe(state.cert, now)
        plan.report[name] = {"path": os.path.join(pki_dir, path + ".crt"), "action": state.action,
                             "reasons": state.reasons, "external": state.external,
                             "not_after": summary["not_after"], "subject": summary["subject"]}
        if writes:
            plan.before[name] = None if state.action == "created" or state.action == "written" else summary
            plan.after[name] = summary
    if "ca" in cas and not cas["ca"].external:
        _plan_signer(plan, reader, pki_dir, cas["ca"].cert, now)
    if profile["sa"]:
        _plan_sa(plan, params, reader, pki_dir, key_type)
    validity = int(params.get("validity_days") or LEAF_VALIDITY_DAYS)
    for spec in specs:
        crt_path = os.path.join(pki_dir, spec["path"] + ".crt")
        key_path = os.path.join(pki_dir, spec["path"] + ".key")
        cert = _parse_disk_cert(reader(crt_path), crt_path)
        key = _parse_disk_key(reader(key_path), key_path)
        ca = cas[spec["ca"]]
        reasons = needs_issue(cert, key, spec, ca.cert, key_type, threshold, now)
        if spec["name"] in force and not reasons:
            reasons = ["renewal forced"]
        entry = {"path": crt_path, "reasons": reasons, "action": "unchanged"}
        plan.report[spec["name"]] = entry
        if not reasons:
            continue
        if ca.external:
            entry["action"] = "due (external CA)"
            plan.due_external.append({"name": spec["name"], "path": crt_path, "reasons": reasons})
            continue
        new_key = key if key is not None and cert is not None and _keep_key(key, key_type, reasons) else generate_key(key_type)
        new_cert = issue_leaf(spec, new_key, ca.cert, ca.key, now, validity)
        entry["action"] = "created" if cert is None else "renewed"
        plan.before[spec["name"]] = describe(cert, now) if cert is not None else None
        plan.after[spec["name"]] = describe(new_cert, now)
        plan.add(pki_dir, spec["path"] + ".crt", cert_pem(new_cert), 0o644)
        if new_key is not key:
            plan.add(pki_dir, spec["path"] + ".key", key_pem(new_key), 0o600)
    if plan.due_external:
        plan.warnings.append("external CA mode (no CA key): %d certificate(s) missing or due were not issued: %s"
                             % (len(plan.due_external), ", ".join(d["name"] for d in plan.due_external)))
    return plan


def _keep_key(key, key_type, reasons):
    """Renewals keep a sound key (as ``kubeadm certs renew`` does); a mismatched or wrong-type key is replaced."""
    return key_type_of(key) == key_type and not any(r.startswith(("private key", "key type")) for r in reasons)


def _plan_signer(plan, reader, pki_dir, ca_cert, now):
    """``ca-signer.crt``: the cluster CA's signing certificate alone (see :data:`SIGNER_FILE`)."""
    path = os.path.join(pki_dir, SIGNER_FILE)
    desired = cert_pem(ca_cert)
    disk = reader(path)
    entry = {"path": path, "action": "unchanged", "reasons": []}
    plan.report["ca-signer"] = entry
    if disk == desired:
        return
    entry.update(action="written" if disk is not None else "created",
                 reasons=["missing" if disk is None else "not the signing certificate of ca.crt"])
    disk_cert = _parse_disk_cert(disk, path)
    plan.before["ca-signer"] = describe(disk_cert, now) if disk_cert is not None else None
    plan.after["ca-signer"] = describe(ca_cert, now)
    plan.add(pki_dir, SIGNER_FILE, desired, 0o644)


def _first_public_key_is(pub_pem, key):
    """True when the first public key of ``pub_pem`` is ``key``'s: sa.pub may hold more keys after it (a
    rotation's old and new keys, all accepted by --service-account-key-file), never fewer."""
    if pub_pem is None:
        return False
    if pub_pem == public_pem(key):
        return True
    try:
        first = serialization.load_pem_public_key(pub_pem)
    except ValueError:
        return False
    return _spki(first) == _spki(key.public_key())


def _plan_sa(plan, params, reader, pki_dir, key_type):
    disk_key_pem = reader(os.path.join(pki_dir, "sa.key"))
    disk_pub = reader(os.path.join(pki_dir, "sa.pub"))
    given = params.get("sa_key")
    entry = {"path": os.path.join(pki_dir, "sa.key"), "action": "unchanged", "reasons": []}
    plan.report["sa"] = entry
    if given is not None:
        key = load_key(given, "sa_key")
        if disk_key_pem is not None:
            if not key_matches_key(load_key(disk_key_pem, "sa.key on disk"), key):
                raise GroundworkError("sa: sa.key on disk differs from the one given; replacing it would invalidate "
                                      "every service account token: remove it yourself if that is intended")
        else:
            plan.add(pki_dir, "sa.key", key_pem(key), 0o600)
            entry.update(action="written", reasons=["sa.key missing"])
    elif disk_key_pem is not None:
        key = load_key(disk_key_pem, "sa.key on disk")
    else:
        key = generate_key(key_type)
        plan.add(pki_dir, "sa.key", key_pem(key), 0o600)
        entry.update(action="created", reasons=["sa.key missing"])
    if not _first_public_key_is(disk_pub, key):
        plan.add(pki_dir, "sa.pub", public_pem(key), 0o600)
        if entry["action"] == "unchanged":
            entry.update(action="written", reasons=["sa.pub missing or not matching sa.key"])
    if entry["action"] != "unchanged":
        plan.before["sa"] = None if disk_key_pem is None else {"key": _key_desc(key.public_key())}
        plan.after["sa"] = {"key": _key_desc(key.public_key()),
                            "public_key_sha256": hashlib.sha256(_spki(key.public_key())).hexdigest()}


def key_matches_key(a, b):
    return _spki(a.public_key()) == _spki(b.public_key())


# ---------------------------------------------------------------- kubeconfigs

def _yaml_scalar(value):
    if re.match(r"^[A-Za-z0-9][A-Za-z0-9:@._/-]*$", value) and not value.endswith(":"):
        return value
    return json.dumps(value)


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _unb64(value):
    return base64.b64decode(value) if value else None


def render_kubeconfig(cluster, server, user, ca_pem, client_cert_pem, client_key_pem):
    """A kubeconfig byte for byte in kubeadm's layout (keys sorted, no preferences, base64 data)."""
    context = "%s@%s" % (user, cluster)
    lines = [
        "apiVersion: v1",
        "clusters:",
        "- cluster:",
        "    certificate-authority-data: " + _b64(ca_pem),
        "    server: " + _yaml_scalar(server),
        "  name: " + _yaml_scalar(cluster),
        "contexts:",
        "- context:",
        "    cluster: " + _yaml_scalar(cluster),
        "    user: " + _yaml_scalar(user),
        "  name: " + _yaml_scalar(context),
        "current-context: " + _yaml_scalar(context),
        "kind: Config",
        "users:",
        "- name: " + _yaml_scalar(user),
        "  user:",
        "    client-certificate-data: " + _b64(client_cert_pem),
        "    client-key-data: " + _b64(client_key_pem),
    ]
    return ("\n".join(lines) + "\n").encode("ascii")


def parse_kubeconfig(data):
    """(cluster name, server, CA bytes, client cert bytes or None, client key bytes or None, cert file ref)."""
    if YAML_IMPORT_ERROR:
        raise GroundworkError("PyYAML is required on the target host to read kubeconfigs", exception=YAML_IMPORT_ERROR)
    try:
        doc = yaml.safe_load(data) or {}
        current = doc.get("current-context")
        ctx = next(c["context"] for c in doc.get("contexts", []) if c.get("name") == current)
        cluster = next(c for c in doc.get("clusters", []) if c.get("name") == ctx.get("cluster"))
        user = next(u for u in doc.get("users", []) if u.get("name") == ctx.get("user"))
    except (yaml.YAMLError, StopIteration, AttributeError, KeyError, TypeError):
        return None
    u = user.get("user") or {}
    c = cluster.get("cluster") or {}
    return {"cluster": cluster.get("name"), "server": c.get("server"), "user": user.get("name"),
            "ca": _unb64(c.get("certificate-authority-data")),
            "cert": _unb64(u.get("client-certificate-data")), "key": _unb64(u.get("client-key-data")),
            "cert_file": u.get("client-certificate")}


def plan_kubeconfigs(params, reader=None, now=None):
    """The plan for the kubeconfig files (module ``kubeconfig``)."""
    require_libs()
    reader = reader or read_file
    now = now or utcnow()
    key_type = params.get("key_type") or DEFAULT_KEY_TYPE
    check_key_type(key_type)
    pki_dir = params.get("pki_dir") or "/etc/kubernetes/pki"
    out_dir = params.get("kubeconfig_dir") or "/etc/kubernetes"
    threshold = int(params.get("renew_threshold_days", RENEW_THRESHOLD_DAYS))
    force = set(params.get("force_renew") or [])
    names = list(params.get("names") or KUBECONFIGS)
    unknown = (set(names) | force) - set(KUBECONFIGS)
    if unknown:
        raise GroundworkError("unknown kubeconfig(s) %s: use %s" % (", ".join(sorted(unknown)), ", ".join(KUBECONFIGS)))
    specs = [kubeconfig_spec(n, params) for n in names]
    given_cert, given_key = _material(params, "ca")
    # The kubeconfig module reads the CA; it never writes anything below pki_dir.
    ca_state = resolve_ca("ca", reader(os.path.join(pki_dir, "ca.crt")), reader(os.path.join(pki_dir, "ca.key")),
                          given_cert, given_key, key_type, now, CA_VALIDITY_DAYS, create=False, store_key=False)[0]
    validity = int(params.get("validity_days") or LEAF_VALIDITY_DAYS)
    plan = Plan()
    for spec in specs:
        path = os.path.join(out_dir, spec["file"])
        existing = reader(path)
        parsed = parse_kubeconfig(existing) if existing is not None else None
        entry = {"path": path, "action": "unchanged", "reasons": [], "server": spec["server"]}
        plan.report[spec["name"]] = entry
        if parsed is not None and parsed["cert"] is None and parsed["cert_file"] and spec["name"] == "kubelet":
            entry["action"] = "unchanged (client certificate rotated by the kubelet: %s)" % parsed["cert_file"]
            continue
        cert = _parse_disk_cert(parsed["cert"], path) if parsed and parsed["cert"] else None
        key = _parse_disk_key(parsed["key"], path) if parsed and parsed["key"] else None
        if existing is None:
            reasons = ["kubeconfig missing"]
        else:
            reasons = needs_issue(cert, key, spec, ca_state.cert, key_type, threshold, now)
            if spec["name"] in force and not reasons:
                reasons = ["renewal forced"]
        file_reasons = []
        if parsed is None and existing is not None:
            file_reasons.append("kubeconfig unreadable")
        elif parsed is not None:
            if parsed["server"] != spec["server"]:
                file_reasons.append("server is %s, wanted %s" % (parsed["server"], spec["server"]))
            if parsed["cluster"] != spec["cluster"]:
                file_reasons.append("cluster name is %s, wanted %s" % (parsed["cluster"], spec["cluster"]))
            if parsed["ca"] != ca_state.bundle:
                file_reasons.append("embedded CA differs from ca.crt")
        if not reasons and not file_reasons:
            continue
        entry["reasons"] = reasons + file_reasons
        if reasons and ca_state.external:
            entry["action"] = "due (external CA)"
            plan.due_external.append({"name": spec["file"], "path": path, "reasons": reasons})
            continue
        if reasons:
            new_key = key if key is not None and cert is not None and _keep_key(key, key_type, reasons) \
                else generate_key(key_type)
            new_cert = issue_leaf(spec, new_key, ca_state.cert, ca_state.key, now, validity)
            entry["action"] = "created" if existing is None else "renewed"
        else:
            new_key, new_cert = key, cert
            entry["action"] = "rewritten"
        plan.before[spec["name"]] = _kc_summary(parsed, cert, now) if parsed else None
        plan.after[spec["name"]] = dict(describe(new_cert, now), server=spec["server"], cluster=spec["cluster"])
        plan.add(out_dir, spec["file"], render_kubeconfig(spec["cluster"], spec["server"], spec["user"],
                                                          ca_state.bundle, cert_pem(new_cert), key_pem(new_key)), 0o600)
    if plan.due_external:
        plan.warnings.append("external CA mode (no ca.key): kubeconfig(s) missing or due were not issued: %s"
                             % ", ".join(d["name"] for d in plan.due_external))
    return plan


def _kc_summary(parsed, cert, now):
    out = {"server": parsed["server"], "cluster": parsed["cluster"]}
    if cert is not None:
        out.update(describe(cert, now))
    return out


# ---------------------------------------------------------------- writing

def check_writable(paths):
    """Fail before writing anything when a target cannot be written (clear message, nothing touched)."""
    seen = set()
    for path in paths:
        directory = os.path.dirname(os.path.abspath(path))
        if directory in seen:
            continue
        seen.add(directory)
        probe = directory
        while not os.path.exists(probe):
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
        if not os.path.isdir(probe):
            raise GroundworkError("cannot write %s: %s is not a directory" % (path, probe))
        if not os.access(probe, os.W_OK | os.X_OK):
            raise GroundworkError("cannot write %s: directory %s is not writable (permissions or read-only file system)"
                                  % (path, probe))
        if os.path.isdir(path):
            raise GroundworkError("cannot write %s: it is a directory" % path)


def apply_writes(writes, check_mode=False):
    """Write every planned file through ``_io.write_atomic`` after checking all targets first.

    In check mode only the targets are checked (the same clear error, nothing written).

    The temp file is renamed with ``os.replace``, not ``AnsibleModule.atomic_move``: when the target
    does not exist yet, atomic_move chmods it to 0666 & ~umask after the rename, which would leave a
    fresh private key world-readable until write_atomic's final chmod.
    """
    check_writable([w[0] for w in writes])
    if not check_mode:
        for path, content, mode in writes:
            _io.write_atomic(path, content, mode=mode)
    return [w[0] for w in writes]


# ---------------------------------------------------------------- inventory of a host (pki_info)

def scan(pki_dir, kubeconfig_dir, now=None, reader=None):
    """Every certificate below ``pki_dir`` and every kubeconfig in ``kubeconfig_dir``, summarised."""
    require_libs()
    reader = reader or read_file
    now = now or utcnow()
    rows = []
    for root, dirs, files in os.walk(pki_dir):
        dirs.sort()
        for fname in sorted(files):
            if not fname.endswith(".crt") or (fname == SIGNER_FILE and root == pki_dir):
                continue  # ca-signer.crt is ca.crt's first certificate: one row for the CA is enough
            path = os.path.join(root, fname)
            rows.append(_row(os.path.relpath(path, pki_dir)[:-4].replace(os.sep, "/"), path, reader(path), now, "file"))
    if kubeconfig_dir and os.path.isdir(kubeconfig_dir):
        for fname in sorted(os.listdir(kubeconfig_dir)):
            path = os.path.join(kubeconfig_dir, fname)
            if not fname.endswith(".conf") or not os.path.isfile(path):
                continue
            parsed = parse_kubeconfig(reader(path))
            if parsed is None:
                continue
            data, source = parsed["cert"], "kubeconfig"
            if data is None and parsed["cert_file"]:
                data, source = reader(parsed["cert_file"]), "kubeconfig (%s)" % parsed["cert_file"]
            row = _row(fname, path, data, now, source)
            row["server"] = parsed["server"]
            rows.append(row)
    rows.sort(key=lambda r: (r.get("not_after") or "", r["name"]))
    return rows


def _row(name, path, data, now, source):
    row = {"name": name, "path": path, "source": source}
    if data is None:
        row["error"] = "missing"
        return row
    try:
        certs = load_certs(data, path)
    except GroundworkError as exc:
        row["error"] = exc.msg
        return row
    d = describe(certs[0], now)
    row.update({k: d[k] for k in ("subject", "issuer", "sans", "not_before", "not_after", "days_left", "key",
                                  "serial", "basic_constraints")})
    row["is_ca"] = d["basic_constraints"].startswith("CA:TRUE")
    row["chain_length"] = len(certs)
    return row


# ---------------------------------------------------------------- cluster-wide report (controller side)

REPORT_COLUMNS = (("host", 14), ("name", 26), ("days_left", 9), ("not_after", 25), ("subject", 44), ("issuer", 20))


def report_rows(per_host):
    """Merge ``{host: [pki_info rows]}`` into one list sorted by expiry (unreadable/missing first), then host, name."""
    rows = []
    for host, host_rows in per_host.items():
        for row in host_rows or []:
            rows.append(dict(row, host=host))
    rows.sort(key=lambda r: ("error" not in r, r.get("not_after") or "", r["host"], r["name"]))
    return rows


def report_table(rows):
    """The report as a fixed-width text table, one certificate per line."""
    def cell(row, key, width):
        value = row.get(key)
        if key == "days_left" and "error" in row:
            value = row["error"]
        text = "" if value is None else str(value)
        return text if len(text) <= width else text[:width - 1] + "~"
    header = "  ".join(name.upper().ljust(width) for name, width in REPORT_COLUMNS).rstrip()
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append("  ".join(cell(row, name, width).ljust(width) for name, width in REPORT_COLUMNS).rstrip())
    lines.append("%d certificate(s) on %d host(s); soonest expiry first" % (len(rows), len(set(r["host"] for r in rows))))
    return "\n".join(lines) + "\n"


def read_material(pki_dir, names):
    """Content of the named files below ``pki_dir`` -> ({name: text}, [missing names]).

    For handing the shared CA and service-account files to other hosts in one call. Names are
    relative and may not leave ``pki_dir``; only regular files are read.
    """
    base = os.path.realpath(pki_dir)
    material, missing = {}, []
    for name in names:
        if not name or os.path.isabs(name) or ".." in name.split("/"):
            raise GroundworkError("%r: give a path relative to %s without '..'" % (name, pki_dir))
        path = os.path.join(base, name)
        if not os.path.realpath(path).startswith(base + os.sep):
            raise GroundworkError("%s leads outside %s (a symlink?): refusing to read it" % (path, pki_dir))
        if not os.path.exists(path):
            missing.append(name)
            continue
        if not os.path.isfile(path):
            raise GroundworkError("%s is not a regular file" % path)
        data = _io.read_bytes(path)
        try:
            material[name] = data.decode("ascii")
        except UnicodeDecodeError:
            raise GroundworkError("%s is not PEM text" % path)
    return material, missing
