# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Certificate rotation on one node: read, reissue, bundle and back up files in kubeadm's layout.

The decisions live in ``_rotation`` (pure); this file does the I/O with ``cryptography``
(>= 3.4; Debian bookworm ships 38). A leaf is reissued by *cloning its profile*: same subject,
same extensions (SANs, key usage, EKU, basic constraints), a fresh key of the same type, a new
validity window, signed by the given CA. That keeps whatever profile the PKI module (or kubeadm)
gave it, without needing the inventory that produced it.

Layout of the state dir (``<pki_dir>/.rotation``, 0700):
``state.json`` (the node's phase), ``old/<name>.pem`` (trust material as it was before the
rotation, public), ``new/<name>.crt|.key`` (the staged new CA / SA pair, keys 0600).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as R
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import ensure_dir, read_bytes, write_atomic

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.x509.oid import ExtensionOID
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by the module
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_ERROR = str(_exc)

KUBECONFIGS = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf")
BACKDATE = datetime.timedelta(minutes=5)  # kubeadm backdates notBefore by 5 minutes
STATE_DIR = ".rotation"
KC_KEYS = ("certificate-authority-data", "client-certificate-data", "client-key-data", "client-certificate", "client-key")
# One credential per line, as kubeadm and kubectl write YAML (the value may be quoted).
KC_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>%s):\s*(?P<q>[\"']?)(?P<value>[^\s\"']+)(?P=q)\s*$" % "|".join(KC_KEYS))
# Any mention of a credential key, in YAML or JSON: what KC_LINE must have found.
KC_MENTION = re.compile(r"^\s*[\"']?(?P<key>%s)[\"']?\s*:" % "|".join(KC_KEYS), re.M)


# --------------------------------------------------------------------------- x509 basics
def _naive_utc(dt):
    return dt.astimezone(datetime.timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt


def not_after(cert):
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def not_before(cert):
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def load_certs(pem):
    """Every certificate in PEM text/bytes, in order."""
    out = []
    for block in R.pem_blocks(pem, "CERTIFICATE"):
        out.append(x509.load_pem_x509_certificate(block.encode("ascii")))
    return out


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def fingerprint(cert):
    return cert.fingerprint(hashes.SHA256()).hex()


def public_fingerprint(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    return hashlib.sha256(der).hexdigest()


def summary(cert):
    """What diff and reports show about a certificate (never key material)."""
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": "%x" % cert.serial_number, "not_after": R.iso(not_after(cert)),
            "sha256": fingerprint(cert)}


def signed_by(cert, ca):
    """True when ``ca``'s key made ``cert``'s signature (name match and signature check)."""
    if cert.issuer != ca.subject:
        return False
    key = ca.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def key_like(public_key):
    """A new private key of the same type and size as ``public_key``."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return rsa.generate_private_key(public_exponent=65537, key_size=public_key.key_size)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(type(public_key.curve)())
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return ed25519.Ed25519PrivateKey.generate()
    raise GroundworkError("unsupported key type %s" % type(public_key).__name__)


def _hash_for(private_key):
    return None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def key_pem(private_key, like=None):
    """PEM of ``private_key``; PKCS#1/SEC1 ('RSA/EC PRIVATE KEY', as kubeadm) unless ``like`` is PKCS#8."""
    pkcs8 = isinstance(private_key, ed25519.Ed25519PrivateKey) or (like is not None and b"BEGIN PRIVATE KEY" in like)
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return private_key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode("ascii")


def public_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_key(pem):
    if pem is None:
        return None
    try:
        return serialization.load_pem_private_key(pem if isinstance(pem, bytes) else pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise GroundworkError("cannot load a private key (encrypted or malformed): %s" % exc)


def load_public_keys(pem):
    out = []
    for block in R.pem_blocks(pem, "PUBLIC KEY"):
        out.append(serialization.load_pem_public_key(block.encode("ascii")))
    return out


def make_ca_like(old_ca, validity_days=3650, now=None):
    """A new self-signed CA with the old one's subject, key type and extension profile.

    Returns (cert, private_key). The subject stays the same (``CN=kubernetes``): clients that
    look a CA up by name keep working; chains are told apart by the key identifiers.
    """
    now = R.parse_time(now) if now else R.utcnow()
    key = key_like(old_ca.public_key())
    builder = (x509.CertificateBuilder().subject_name(old_ca.subject).issuer_name(old_ca.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(_naive_utc(now - BACKDATE))
               .not_valid_after(_naive_utc(now + datetime.timedelta(days=validity_days))))
    seen = set()
    for ext in old_ca.extensions:
        if ext.oid in (ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER):
            continue
        seen.add(ext.oid)
        builder = builder.add_extension(ext.value, ext.critical)
    if ExtensionOID.BASIC_CONSTRAINTS not in seen:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return builder.sign(key, _hash_for(key)), key


def reissue(old_cert, ca_cert, ca_key, validity_days=365, now=None, new_key=True, old_key=None):
    """A copy of ``old_cert``'s profile signed by ``ca_cert``/``ca_key``. Returns (cert, private_key).

    ``new_key``: a fresh key of the same type (default); otherwise ``old_key`` is reused.
    """
    now = R.parse_time(now) if now else R.utcnow()
    key = key_like(old_cert.public_key()) if new_key or old_key is None else old_key
    builder = (x509.CertificateBuilder().subject_name(old_cert.subject).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(_naive_utc(now - BACKDATE))
               .not_valid_after(_naive_utc(now + datetime.timedelta(days=validity_days))))
    had_ski = False
    for ext in old_cert.extensions:
        if ext.oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
            continue
        if ext.oid == ExtensionOID.SUBJECT_KEY_IDENTIFIER:
            had_ski = True
            continue
        builder = builder.add_extension(ext.value, ext.critical)
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())
    builder = builder.add_extension(aki, critical=False)
    if had_ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key)), key


# --------------------------------------------------------------------------- kubeconfig (kubeadm format)
# kubeadm writes kubeconfigs in YAML, one credential per line: those lines are edited in place and
# every other byte is kept. A kubeconfig in JSON (also valid; kubectl reads both) is edited as data.
# A credential this code cannot place is an error, never a silently skipped file: a kubeconfig left
# with the old CA would stop its client after phase 3.
def _is_json(text):
    return text.lstrip().startswith("{")


def _json_sections(doc):
    """The dicts that hold credentials in a JSON kubeconfig: every clusters[].cluster and users[].user."""
    if not isinstance(doc, dict):
        raise GroundworkError("a JSON kubeconfig must be an object")
    out = []
    for section, inner in (("clusters", "cluster"), ("users", "user")):
        for entry in doc.get(section) or []:
            if isinstance(entry, dict) and isinstance(entry.get(inner), dict):
                out.append(entry[inner])
    return out


def _load_json_kubeconfig(text):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise GroundworkError("kubeconfig is not valid JSON: %s" % exc)


def kubeconfig_fields(text):
    """{key: value} of the credential fields (one cluster, one user as kubeadm writes them)."""
    out = {}
    if _is_json(text):
        for section in _json_sections(_load_json_kubeconfig(text)):
            for key in KC_KEYS:
                if isinstance(section.get(key), str):
                    out.setdefault(key, section[key])
        return out
    for line in text.splitlines():
        m = KC_LINE.match(line)
        if m:
            out.setdefault(m.group("key"), m.group("value"))
    unread = sorted({m.group("key") for m in KC_MENTION.finditer(text)} - set(out))
    if unread:
        raise GroundworkError("cannot read %s of this kubeconfig: expected one 'key: value' line each (as kubeadm "
                              "writes it)" % ", ".join(unread))
    return out


def kubeconfig_set(text, values):
    """Replace the value of each credential named in ``values``; other lines (or, in JSON, other data) untouched."""
    found = set()
    if _is_json(text):
        doc = _load_json_kubeconfig(text)
        for section in _json_sections(doc):
            for key, value in values.items():
                if key in section:
                    section[key] = value
                    found.add(key)
        indent = re.search(r"\n([ \t]+)\S", text)
        out = json.dumps(doc, indent=indent.group(1) if indent else None) + "\n"
    else:
        lines = []
        for line in text.splitlines():
            m = KC_LINE.match(line)
            if m and m.group("key") in values:
                line = "%s%s: %s%s%s" % (m.group("indent"), m.group("key"), m.group("q"), values[m.group("key")], m.group("q"))
                found.add(m.group("key"))
            lines.append(line)
        out = "\n".join(lines) + "\n"
    missing = set(values) - found
    if missing:
        raise GroundworkError("kubeconfig lacks %s: not a kubeadm-style kubeconfig" % ", ".join(sorted(missing)))
    return out


def b64(text):
    import base64
    return base64.b64encode(text.encode("ascii") if isinstance(text, str) else text).decode("ascii")


def unb64(text):
    import base64
    return base64.b64decode(text).decode("ascii")


# --------------------------------------------------------------------------- a node's files
class Node:
    """One node's PKI in kubeadm's layout, plus its rotation state dir."""

    def __init__(self, pki_dir="/etc/kubernetes/pki", kubeconfig_dir="/etc/kubernetes", state_dir=None,
                 backup_root="/var/backups/groundwork/certs", atomic_move=None, extra_kubeconfigs=()):
        self.pki_dir = pki_dir
        self.kubeconfig_dir = kubeconfig_dir
        self.state_dir = state_dir or os.path.join(pki_dir, STATE_DIR)
        self.backup_root = backup_root
        self.atomic_move = atomic_move
        self.extra_kubeconfigs = list(extra_kubeconfigs)
        self.backup_dir = None  # set by the caller before writing

    # ---- paths
    def path(self, rel):
        return rel if os.path.isabs(rel) else os.path.join(self.pki_dir, rel)

    def state_path(self):
        return os.path.join(self.state_dir, "state.json")

    def staged(self, name, kind):
        return os.path.join(self.state_dir, "new", "%s.%s" % (name, kind))

    def original(self, name):
        return os.path.join(self.state_dir, "old", "%s.pem" % name)

    def kubeconfigs(self):
        paths = [os.path.join(self.kubeconfig_dir, n) for n in KUBECONFIGS] + self.extra_kubeconfigs
        return [p for p in paths if os.path.isfile(p)]

    def leaves(self):
        """(cert path, key path) of every leaf certificate file in the PKI dir (CAs and ca-signer.crt excluded)."""
        ca_certs = {self.path(files[0]) for files in R.CA_FILES.values()} | {self.path(R.SIGNER_FILE)}
        out = []
        for root, dirs, files in os.walk(self.pki_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.endswith(".crt"):
                    continue
                path = os.path.join(root, name)
                if path in ca_certs:
                    continue
                out.append((path, path[:-4] + ".key"))
        return out

    # ---- state
    def read_state(self):
        data = read_bytes(self.state_path())
        if data is None:
            return None
        try:
            return R.check_state(json.loads(data.decode("utf-8")))
        except ValueError as exc:
            raise GroundworkError("%s is not valid JSON (%s): fix or move it aside" % (self.state_path(), exc))

    def write_state(self, doc):
        ensure_dir(self.state_dir, 0o700)
        os.chmod(self.state_dir, 0o700)
        write_atomic(self.state_path(), (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), 0o600,
                     self.atomic_move)

    # ---- writing with backup
    def backup(self, path):
        """Copy ``path`` into the backup dir (once per run: the first copy is the original)."""
        if self.backup_dir is None or not os.path.exists(path):
            return None
        dest = os.path.join(self.backup_dir, path.lstrip("/"))
        if os.path.exists(dest):
            return dest
        ensure_dir(os.path.dirname(dest), 0o700)
        os.chmod(self.backup_dir, 0o700)
        shutil.copy2(path, dest)
        os.chmod(dest, 0o600)
        return dest

    def write(self, path, content, mode=None):
        """Back up, then atomically replace ``path``; keeps the old mode unless ``mode`` is given."""
        data = content.encode("ascii") if isinstance(content, str) else content
        if read_bytes(path) == data:
            return False
        if mode is None:
            mode = (os.stat(path).st_mode & 0o777) if os.path.exists(path) else 0o600
        self.backup(path)
        write_atomic(path, data, mode, self.atomic_move)
        return True


def new_backup_dir(root, label, now=None):
    stamp = (R.parse_time(now) if now else R.utcnow()).strftime("%Y%m%dT%H%M%SZ")
    return os.path.join(root, "%s-%s" % (stamp, re.sub(r"[^A-Za-z0-9._-]", "_", label)))


def backup_manifest(backup_dir):
    """Files in a backup dir, as the absolute paths they came from."""
    out = []
    for root, _dirs, files in os.walk(backup_dir):
        for name in sorted(files):
            full = os.path.join(root, name)
            out.append("/" + os.path.relpath(full, backup_dir))
    return sorted(out)


# --------------------------------------------------------------------------- CA rotation on one node
def _trust_paths(node, name):
    if name == "sa":
        return node.path("sa.pub"), node.path("sa.key")
    cert, key = R.CA_FILES[name]
    return node.path(cert), node.path(key)


def _new_trust_pem(name, cert_or_pub_pem):
    return R.bundle(R.pem_blocks(cert_or_pub_pem, "PUBLIC KEY" if name == "sa" else "CERTIFICATE"))


class CaRotation:
    """Moves one node through the phases of one rotation. ``run(target)`` returns a result dict."""

    def __init__(self, node, rotation_id, cas, new_material=None, generate=False, stage_keys=True,
                 ca_validity_days=3650, leaf_validity_days=365, check_mode=False, now=None):
        self.node = node
        self.rotation_id = str(rotation_id)
        self.cas = sorted(set(cas))
        self.new_material = dict(new_material or {})
        self.generate = generate
        self.stage_keys = stage_keys
        self.ca_validity_days = ca_validity_days
        self.leaf_validity_days = leaf_validity_days
        self.check_mode = check_mode
        self.now = R.parse_time(now) if now else R.utcnow()
        self.changed_files = []
        self.diff = {"before": {}, "after": {}}
        self._memory = {}
        self.target = None
        self.doc = None  # the state document of the phase in progress (kept in step with the node's file)

    # ---- material
    def present(self):
        """The rotated names this node holds (a worker holds only ca.crt; an etcd member only etcd-ca)."""
        return [n for n in self.cas if os.path.exists(_trust_paths(self.node, n)[0])]

    def old_trust(self, name, doc):
        snap = read_bytes(self.node.original(name))
        if snap is not None:
            return snap.decode("ascii")
        if doc["phase"] == "none" and doc.get("in_progress") in (None, "trusted"):
            return read_bytes(_trust_paths(self.node, name)[0]).decode("ascii")
        raise GroundworkError("%s is missing: the original trust material of rotation %s is lost; restore it "
                              "from the backup dir before continuing" % (self.node.original(name), self.rotation_id))

    def _staged(self, name):
        cert = read_bytes(self.node.staged(name, "pub" if name == "sa" else "crt"))
        key = read_bytes(self.node.staged(name, "key"))
        return (cert.decode("ascii") if cert else None), (key.decode("ascii") if key else None)

    def new_for(self, name, need_key):
        """(trust PEM, key PEM or None) of the new CA/SA pair; stages or generates it when asked."""
        if name in self._memory:
            cert, key = self._memory[name]
            if need_key and not key:
                raise GroundworkError("the new %s key is needed on this node (it holds the old key) but was not given"
                                      % name)
            return cert, key
        s_cert, s_key = self._staged(name)
        given = self.new_material.get(name) or {}
        g_cert, g_key = given.get("cert") or given.get("pub"), given.get("key")
        cert, key = s_cert, s_key
        if g_cert:
            if s_cert and R.bundle(s_cert) != R.bundle(g_cert):
                raise GroundworkError("a different new %s is already staged in %s for rotation %s; refusing to "
                                      "replace it (stage the same material on every node)"
                                      % (name, self.node.state_dir, self.rotation_id))
            cert = g_cert
            key = key or g_key
        if cert is None and self.generate and self.target == "trusted":
            cert, key = self._generate(name)  # only phase 1 may create: later phases must reuse it
        if cert is None:
            raise GroundworkError("no new %s staged on this node (%s) and none given: run phase trusted on the "
                                  "first node with generate=true, then pass new_material" % (name, self.node.state_dir))
        if need_key and not key:
            raise GroundworkError("the new %s key is needed on this node (it holds the old key) but was not given"
                                  % name)
        if key:
            k = load_key(key)
            trust = load_public_keys(cert)[0] if name == "sa" else load_certs(cert)[0].public_key()
            if public_fingerprint(trust) != public_fingerprint(k.public_key()):
                raise GroundworkError("the new %s certificate and key do not match" % name)
        self._stage(name, cert, key if self.stage_keys else None)
        self._memory[name] = (cert, key)
        return cert, key

    def _generate(self, name):
        trust_path, key_path = _trust_paths(self.node, name)
        if name == "sa":
            old_pub = load_public_keys(read_bytes(trust_path))[0]
            key = key_like(old_pub)
            return public_pem(key.public_key()), key_pem(key, read_bytes(key_path))
        old = load_certs(read_bytes(trust_path))[0]
        cert, key = make_ca_like(old, self.ca_validity_days, self.now)
        return cert_pem(cert), key_pem(key, read_bytes(key_path))

    def _stage(self, name, cert, key):
        if self.check_mode:
            return
        ensure_dir(os.path.join(self.node.state_dir, "new"), 0o700)
        os.chmod(self.node.state_dir, 0o700)
        cpath = self.node.staged(name, "pub" if name == "sa" else "crt")
        if read_bytes(cpath) != cert.encode("ascii"):
            write_atomic(cpath, cert.encode("ascii"), 0o644, self.node.atomic_move)
        if key:
            kpath = self.node.staged(name, "key")
            if read_bytes(kpath) != key.encode("ascii"):
                write_atomic(kpath, key.encode("ascii"), 0o600, self.node.atomic_move)

    # ---- writes
    def _put(self, path, content, mode=None, show=None):
        before = read_bytes(path)
        data = content.encode("ascii") if isinstance(content, str) else content
        if before == data:
            return False
        self.diff["before"][path] = show(before.decode("ascii")) if (show and before) else ("absent" if before is None else "(changed)")
        self.diff["after"][path] = show(data.decode("ascii")) if show else "(replaced)"
        self.changed_files.append(path)
        if not self.check_mode:
            self._owe(path)
            self.node.write(path, data, mode)
        return True

    def _owe(self, path):
        """Record on the node the restarts ``path`` needs, before it is written (a killed run still owes them)."""
        if self.doc is None or not self.doc.get("in_progress"):
            return
        doc = R.owe_restarts(self.doc, [path])
        if doc is not self.doc:
            self.doc = doc
            self.node.write_state(doc)

    @staticmethod
    def _show_trust(text):
        rows = []
        for block in R.pem_blocks(text):
            if "CERTIFICATE" in block:
                c = x509.load_pem_x509_certificate(block.encode("ascii"))
                rows.append("%s sha256:%s" % (c.subject.rfc4514_string(), fingerprint(c)[:16]))
            else:
                rows.append("public key sha256:%s" % R.block_fingerprint(block)[:16])
        return rows

    @staticmethod
    def _show_leaf(text):
        certs = load_certs(text)
        return summary(certs[0]) if certs else "(no certificate)"

    # ---- phase steps
    def apply_trust(self, phase, doc, present):
        """Trust files, keys (phase >= reissued) and kubeconfig CA data as ``phase`` wants them."""
        for name in present:
            trust_path, key_path = _trust_paths(self.node, name)
            has_key = os.path.exists(key_path)
            use_new_key = R.signer_in(phase) == "new" and has_key
            new_cert, new_key = self.new_for(name, need_key=use_new_key)
            old = self.old_trust(name, doc)
            kind = "PUBLIC KEY" if name == "sa" else "CERTIFICATE"
            desired = R.desired_trust(phase, R.pem_blocks(old, kind), _new_trust_pem(name, new_cert))
            if use_new_key:
                self._put(key_path, new_key, 0o600)
            self._put(trust_path, desired, None, self._show_trust)
            if name == "ca" and has_key:
                # controller-manager's signing certificate: one certificate, matching ca.key (never the bundle)
                self._put(self.node.path(R.SIGNER_FILE), R.pem_blocks(desired, "CERTIFICATE")[0], 0o644, self._show_trust)
            if name == "ca":
                for kc in self.node.kubeconfigs():
                    text = read_bytes(kc).decode("utf-8")
                    if "certificate-authority-data" in kubeconfig_fields(text):
                        self._put(kc, kubeconfig_set(text, {"certificate-authority-data": b64(desired)}), None,
                                  lambda t: self._show_trust(unb64(kubeconfig_fields(t)["certificate-authority-data"])))

    def _old_and_new(self, present, doc):
        """name -> (old CA certs, new CA cert, new CA key or None) for the X.509 CAs on this node."""
        out = {}
        for name in present:
            if name == "sa":
                continue
            key_path = _trust_paths(self.node, name)[1]
            new_cert, new_key = self.new_for(name, need_key=os.path.exists(key_path))
            out[name] = (load_certs(self.old_trust(name, doc)), load_certs(new_cert)[0],
                         load_key(new_key) if new_key else None)
        return out

    def _issuer_of(self, cert, cas):
        for name, (olds, new, key) in cas.items():
            if any(signed_by(cert, o) for o in olds):
                return name, "old"
            if signed_by(cert, new):
                return name, "new"
        return None, None

    def items(self):
        """Every leaf file and kubeconfig on the node, in a stable order (the phase-2 work list)."""
        return [pair[0] for pair in self.node.leaves()] + self.node.kubeconfigs()

    def reissue_item(self, path, cas):
        """Reissue one leaf or kubeconfig client cert signed by an old CA; True when it needed it."""
        if path.endswith(".crt"):
            cert = load_certs(read_bytes(path))[0]
            name, which = self._issuer_of(cert, cas)
            if which != "old":
                return False
            olds, new, key = cas[name]
            if key is None:
                raise GroundworkError("%s is signed by the old %s but the new %s key is not on this node" % (path, name, name))
            cert2, key2 = reissue(cert, new, key, self.leaf_validity_days, self.now)
            key_path = path[:-4] + ".key"
            self._put(key_path, key_pem(key2, read_bytes(key_path)), 0o600)
            self._put(path, cert_pem(cert2), None, self._show_leaf)
            return True
        text = read_bytes(path).decode("utf-8")
        fields = kubeconfig_fields(text)
        if "client-certificate-data" in fields and "ca" in cas:
            cert = load_certs(unb64(fields["client-certificate-data"]))[0]
            if self._issuer_of(cert, {"ca": cas["ca"]})[1] != "old":
                return False
            olds, new, key = cas["ca"]
            if key is None:
                raise GroundworkError("%s has a client cert from the old CA but the new CA key is not on this node" % path)
            old_key_pem = unb64(fields["client-key-data"]) if "client-key-data" in fields else None
            cert2, key2 = reissue(cert, new, key, self.leaf_validity_days, self.now)
            self._put(path, kubeconfig_set(text, {"client-certificate-data": b64(cert_pem(cert2)),
                                                  "client-key-data": b64(key_pem(key2, old_key_pem and old_key_pem.encode()))}),
                      None, lambda t: self._show_leaf(unb64(kubeconfig_fields(t)["client-certificate-data"])))
            return True
        pem_path = fields.get("client-certificate")
        if pem_path and "ca" in cas and os.path.isfile(pem_path):
            real = os.path.realpath(pem_path)
            data = read_bytes(real).decode("ascii")
            certs = load_certs(data)
            if not certs or self._issuer_of(certs[0], {"ca": cas["ca"]})[1] != "old":
                return False
            olds, new, key = cas["ca"]
            if key is None:
                raise GroundworkError("%s is signed by the old CA but the new CA key is not available here: pass it "
                                      "in new_material (it is used in memory, not written)" % real)
            cert2, key2 = reissue(certs[0], new, key, self.leaf_validity_days, self.now)
            self._put(real, cert_pem(cert2) + key_pem(key2, data.encode("ascii")), 0o600, self._show_leaf)
            return True
        return False

    def still_old(self, cas):
        """Leaves and kubeconfig client certs on this node still signed by an old CA."""
        out = []
        for path in self.items():
            if path.endswith(".crt"):
                certs = load_certs(read_bytes(path))
            else:
                f = kubeconfig_fields(read_bytes(path).decode("utf-8"))
                if "client-certificate-data" in f:
                    certs = load_certs(unb64(f["client-certificate-data"]))
                elif f.get("client-certificate") and os.path.isfile(f["client-certificate"]):
                    certs = load_certs(read_bytes(f["client-certificate"]))
                else:
                    certs = []
            if certs and self._issuer_of(certs[0], cas)[1] == "old":
                out.append(path)
        return out

    # ---- the phase
    def run(self, target, sa_grace_seconds=0, step="all"):
        """Move this node towards ``target``.

        ``step``: ``apply`` writes the files and leaves the phase in progress, marked applied, with the
        restarts it owes (RV restart: the caller restarts them and gates on health, then runs ``commit``);
        re-running ``apply`` on an applied node writes nothing and returns the owed restarts again.
        ``commit`` records the phase done (only on an applied node). ``all`` does both at once.
        """
        if step not in R.STEPS:
            raise GroundworkError("step must be one of %s, got %r" % (", ".join(R.STEPS), step))
        if step == "commit":
            return self.commit(target)
        node = self.node
        doc = node.read_state()
        action, doc = R.transition(doc, target, self.rotation_id, self.cas, self.now)
        target = R.normalise_phase(target)
        self.target = target
        result = {"rotation_id": self.rotation_id, "phase_before": doc["phase"], "action": action}
        present = self.present()
        if action == "noop":
            result.update(changed=False, phase=doc["phase"], state=doc, files=[], restart=[], present=present,
                          committed=True)
            return result
        if action == "start" and target == "trusted" and "ca" in present:
            manifest = read_bytes(os.path.join(node.kubeconfig_dir, "manifests", "kube-controller-manager.yaml"))
            blocker = R.signer_blocker(manifest.decode("utf-8", "replace") if manifest else "", node.path("ca.crt"))
            if blocker:
                raise GroundworkError(blocker)
        if target == "retired":
            blockers = R.retire_blockers(doc, self.now, sa_grace_seconds)
            if blockers:
                raise GroundworkError("cannot retire the old CA on this node: %s" % "; ".join(blockers))
        node.backup_dir = os.path.join(node.backup_root, "%s-%s" % (self.rotation_id, target))
        if not self.check_mode and doc.get("in_progress") != target:
            if target == "trusted":
                for name in present:
                    if not os.path.exists(node.original(name)):
                        ensure_dir(os.path.dirname(node.original(name)), 0o700)
                        write_atomic(node.original(name), read_bytes(_trust_paths(node, name)[0]), 0o644,
                                     node.atomic_move)
            doc = R.begin(doc, target, self.now)
            doc["fingerprints"] = {}
            node.write_state(doc)
        self.doc = doc
        for name in present:
            cert = self.new_for(name, need_key=False)[0]
            self.doc.setdefault("fingerprints", {})[name] = R.block_fingerprint(R.pem_blocks(cert)[0])
        if target == "reissued":
            # keys and bundles first (new first), then every leaf; a marker per finished item
            self.apply_trust(target, self.doc, present)
            cas = self._old_and_new(present, self.doc)
            for item in R.pending(self.doc, self.items()):
                self.reissue_item(item, cas)
                if not self.check_mode:
                    self.doc = R.mark_done(self.doc, item)
                    node.write_state(self.doc)
        else:
            if target == "retired":
                left = self.still_old(self._old_and_new(present, self.doc))
                if left:
                    raise GroundworkError("still signed by the old CA on this node: %s; run phase reissued again"
                                          % ", ".join(left), files=left)
            self.apply_trust(target, self.doc, present)
        restart = R.merge_restarts(R.owed_restarts(self.doc) if action == "resume" else [],
                                   R.restarts_for_files(self.changed_files))
        committed = False
        if not self.check_mode:
            self.doc = R.mark_applied(self.doc, restart)
            if step == "all":
                self.doc = self._finish(self.doc)
                committed = True
            node.write_state(self.doc)
        result.update(changed=bool(self.changed_files) or action == "start" or committed,
                      phase=self.doc["phase"], state=self.doc, committed=committed,
                      files=list(self.changed_files), restart=restart,
                      backup_dir=node.backup_dir if (self.changed_files and not self.check_mode) else None,
                      present=present, diff=self.diff)
        return result

    def _finish(self, doc):
        out = R.finish(doc, self.now)
        if out["phase"] == "retired":
            shutil.rmtree(os.path.join(self.node.state_dir, "new"), ignore_errors=True)
            shutil.rmtree(os.path.join(self.node.state_dir, "old"), ignore_errors=True)
        return out

    def commit(self, target):
        """Record phase ``target`` done on this node: its files were applied, it restarted and passed its gate."""
        doc = self.node.read_state()
        action = R.commit_action(doc, target, self.rotation_id)
        result = {"rotation_id": self.rotation_id, "phase_before": doc["phase"], "files": [], "restart": [],
                  "present": self.present(), "committed": True}
        if action == "noop":
            result.update(changed=False, action="noop", phase=doc["phase"], state=doc)
            return result
        if not self.check_mode:
            doc = self._finish(doc)
            self.node.write_state(doc)
        result.update(changed=True, action="commit", phase=R.normalise_phase(target), state=doc)
        return result


# --------------------------------------------------------------------------- leaf renewal on one node
def _signers(node):
    """name -> (current CA cert, key or None, all certs in the bundle) for the CAs on this node."""
    out = {}
    for name, (crt, key) in R.CA_FILES.items():
        data = read_bytes(node.path(crt))
        if data is None:
            continue
        certs = load_certs(data)
        if not certs:
            continue
        kdata = read_bytes(node.path(key))
        out[name] = (certs[0], load_key(kdata) if kdata else None, certs)
    return out


def _kubeconfig_cert(path):
    text = read_bytes(path).decode("utf-8")
    fields = kubeconfig_fields(text)
    if "client-certificate-data" in fields:
        return text, fields, load_certs(unb64(fields["client-certificate-data"]))
    return text, fields, []


def inventory(node):
    """Rows (path, kind, cert) of the leaves and kubeconfig client certs this node can renew."""
    rows = []
    for path, key in node.leaves():
        certs = load_certs(read_bytes(path))
        if certs:
            rows.append({"path": path, "kind": "leaf", "key": key, "cert": certs[0]})
    for path in node.kubeconfigs():
        fields, certs = _kubeconfig_cert(path)[1:]
        if certs:
            rows.append({"path": path, "kind": "kubeconfig", "cert": certs[0]})
        elif fields.get("client-certificate") and os.path.isfile(fields["client-certificate"]):
            real = os.path.realpath(fields["client-certificate"])
            certs = load_certs(read_bytes(real))
            if certs:
                rows.append({"path": real, "kind": "pem", "cert": certs[0]})
    return rows


RENEWAL_RECORD = "renewal.json"


def read_renewal_record(node):
    """The renewal record of a run that renewed files but did not record its gate passed (or None)."""
    path = os.path.join(node.state_dir, RENEWAL_RECORD)
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise GroundworkError("%s is not valid JSON (%s): fix or move it aside" % (path, exc))


def commit_renewal(node, check_mode=False):
    """Delete the renewal record: the node restarted and passed its gate. Returns the record (or None)."""
    record = read_renewal_record(node)
    if record is not None and not check_mode:
        os.remove(os.path.join(node.state_dir, RENEWAL_RECORD))
    return {"changed": record is not None, "committed": True, "pending": False, "record": record,
            "renewed": [], "due_external": [], "written": [], "kept": [], "skipped": [], "restart": [],
            "backup_dir": None, "diff": {"before": {}, "after": {}}}


def renew_leaves(node, threshold_days=30, renew_all=False, validity_days=365, check_mode=False, now=None,
                 include_kubelet=False, step="all"):
    """Renew every leaf / kubeconfig client cert due on this node, cloning its profile, signed by the current CA.

    The current CA is the first certificate of ``ca.crt`` (etc.) with the key beside it. A leaf whose CA
    key is absent (external CA) is reported in ``due_external``. Returns a result dict.

    ``step``: ``apply`` first writes ``<state_dir>/renewal.json`` (the restarts owed) and leaves it there:
    the caller restarts, gates and then runs ``commit`` (which deletes it). A record left by a run that
    did not get that far adds its restarts to RV restart (``pending``), so a re-run restarts and gates
    again even when nothing is due any more. ``all``: no record (the caller restarts on its own).
    """
    if step not in R.STEPS:
        raise GroundworkError("step must be one of %s, got %r" % (", ".join(R.STEPS), step))
    if step == "commit":
        return commit_renewal(node, check_mode)
    now = R.parse_time(now) if now else R.utcnow()
    record = read_renewal_record(node)
    signers = _signers(node)
    rows = inventory(node)
    plan = R.plan_renewal([{"path": r["path"], "not_after": not_after(r["cert"]), "kind": r["kind"],
                            "subject": r["cert"].subject.rfc4514_string()} for r in rows],
                          threshold_days, renew_all, now, include_kubelet=include_kubelet)
    by_path = {r["path"]: r for r in rows}
    renewed, external, before, after, written = [], [], {}, {}, []
    node.backup_dir = new_backup_dir(node.backup_root, "renew", now)
    todo = []
    for due in plan["renew"]:
        cert = by_path[due["path"]]["cert"]
        signer = None
        for name, (ca, key, bundle) in signers.items():
            if any(signed_by(cert, c) for c in bundle):
                signer = (name, ca, key)
                break
        if signer is None or signer[2] is None:
            why = "; CA key not on this node" if signer else "; issuer not found on this node"
            external.append(dict(due, reason=due["reason"] + why))
        else:
            todo.append((due, signer))
    if todo and step == "apply" and not check_mode:
        # before any file: what the renewed files need restarted (a killed run still owes it)
        record = R.renewal_record(record, R.restarts_for([d["path"] for d, _s in todo]), node.backup_dir, now)
        ensure_dir(node.state_dir, 0o700)
        write_atomic(os.path.join(node.state_dir, RENEWAL_RECORD),
                     (json.dumps(record, indent=2, sort_keys=True) + "\n").encode(), 0o600, node.atomic_move)
    for due, signer in todo:
        row = by_path[due["path"]]
        cert = row["cert"]
        new, key = reissue(cert, signer[1], signer[2], validity_days, now)
        path = row["path"]
        before[path], after[path] = summary(cert), summary(new)
        if row["kind"] == "leaf":
            writes = [(row["key"], key_pem(key, read_bytes(row["key"])), 0o600), (path, cert_pem(new), None)]
        elif row["kind"] == "kubeconfig":
            text, fields = _kubeconfig_cert(path)[:2]
            old_key = unb64(fields["client-key-data"]).encode() if "client-key-data" in fields else None
            writes = [(path, kubeconfig_set(text, {"client-certificate-data": b64(cert_pem(new)),
                                                   "client-key-data": b64(key_pem(key, old_key))}), None)]
        else:
            writes = [(path, cert_pem(new) + key_pem(key, read_bytes(path)), 0o600)]
        for wpath, content, mode in writes:
            written.append(wpath)
            if not check_mode:
                node.write(wpath, content, mode)
        renewed.append(dict(due, ca=signer[0]))
    changed = bool(renewed)
    pending = record is not None and step == "apply"
    if record is not None and step == "all" and not check_mode:
        os.remove(os.path.join(node.state_dir, RENEWAL_RECORD))  # all: the caller restarts what is returned
        changed = True
    return {"changed": changed, "renewed": renewed, "due_external": external, "written": written,
            "kept": plan["keep"], "skipped": plan["skip"], "pending": pending, "committed": step == "all",
            "record": record,
            "restart": R.merge_restarts(R.owed_restarts(record), R.restarts_for([r["path"] for r in renewed])),
            "backup_dir": node.backup_dir if (renewed and not check_mode) else None,
            "diff": {"before": before, "after": after}}


def find_backup(backup_root, backup):
    """The backup dir named ``backup`` under ``backup_root`` ("latest": the newest one), checked."""
    if not backup:
        raise GroundworkError("no backup given: a directory name under %s, or latest" % backup_root)
    if not os.path.isdir(backup_root):
        raise GroundworkError("no certificate backups on this node: %s does not exist" % backup_root)
    names = sorted(n for n in os.listdir(backup_root) if os.path.isdir(os.path.join(backup_root, n)))
    if backup == "latest":
        if not names:
            raise GroundworkError("no certificate backups on this node: %s is empty" % backup_root)
        # newest by modification time, then by name (names start with a UTC time stamp)
        backup = max(names, key=lambda n: (os.stat(os.path.join(backup_root, n)).st_mtime, n))
    elif "/" in backup or backup in (".", ".."):
        raise GroundworkError("backup %r: give a directory name under %s (or latest), not a path" % (backup, backup_root))
    elif backup not in names:
        raise GroundworkError("no backup %r under %s; there are: %s" % (backup, backup_root, ", ".join(names) or "none"))
    backup_dir = os.path.join(backup_root, backup)
    if not backup_manifest(backup_dir):
        raise GroundworkError("backup %s holds no files: nothing to put back" % backup_dir)
    return backup_dir


def restore_backup(backup_dir, check_mode=False, atomic_move=None, files=None):
    """Put every file of a backup dir back where it came from; returns the paths restored (changed ones).

    ``files``: the dir's :func:`backup_manifest` when the caller already has it (one walk, not two).
    A restored file keeps the live file's mode, owner and group (backup copies are all root 0600);
    a file that is gone comes back 0600.
    """
    if not os.path.isdir(backup_dir):
        raise GroundworkError("backup dir %s does not exist" % backup_dir)
    restored = []
    for path in backup_manifest(backup_dir) if files is None else files:
        data = read_bytes(os.path.join(backup_dir, path.lstrip("/")))
        if read_bytes(path) == data:
            continue
        restored.append(path)
        if not check_mode:
            mode = (os.stat(path).st_mode & 0o777) if os.path.exists(path) else 0o600
            write_atomic(path, data, mode, atomic_move)
    return restored
