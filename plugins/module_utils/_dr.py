# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Disaster recovery without Ansible: the one-cluster guard, Node ownership, and the DR drill.

- ``one_cluster_verdict``: before a first control plane creates CAs or runs ``kubeadm init``, what the
  other control planes, the API endpoint and etcd said; a cluster elsewhere means refuse (join or restore).
- ``node_owned`` / ``node_collisions``: a Node object belongs to the machine whose address (or machine ID)
  it reports; another host of the same name is refused in preflight, and reset never deletes a Node
  that another machine owns.
- The drill: the newest bundle opened, its snapshot restored into a throwaway etcd on 127.0.0.1, keys and
  revision counted, one Secret decrypted with the bundled encryption configuration (aescbc through the
  openssl CLI, secretbox in pure Python: the backup host needs no extra packages), metrics and a report.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

# --------------------------------------------------------------------------- one cluster, always

FIX_JOIN = ("If this host is a new or rebuilt first control plane, do not initialise a cluster: follow "
            "docs/backup-restore.md 'First control plane lost' (put a control plane that runs the cluster first in "
            "group kube_control_plane, then playbooks/replace_control_plane.yml -e replace_node={host}). "
            "If the whole cluster is lost, restore it: playbooks/restore.yml.")


def one_cluster_verdict(host, local, others, endpoint=None, etcd=None):
    """Decide whether ``host`` (about to create CAs / run kubeadm init) would make a second cluster.

    ``local``: {'apiserver_manifest': bool} - this host already runs the cluster (then nothing to refuse).
    ``others``: [{'host', 'unreachable', 'apiserver_manifest', 'admin_conf', 'etcd_member'}] - other control planes.
    ``endpoint``: {'url', 'status'} - an HTTP status > 0 means an API server answered there.
    ``etcd``: [{'host', 'registry_keys'}] - external members holding Kubernetes keys.
    Returns {'refuse': bool, 'evidence': [str], 'msg': str}.
    """
    if local.get("apiserver_manifest"):
        return {"refuse": False, "evidence": [], "msg": "%s already runs the control plane" % host}
    evidence = []
    for o in others or []:
        if o.get("unreachable"):
            continue
        # not admin.conf: role pki writes it on every control plane before kubeadm init runs on the first
        what = [name for key, name in (("apiserver_manifest", "/etc/kubernetes/manifests/kube-apiserver.yaml"),
                                       ("etcd_member", "etcd data (/var/lib/etcd/member)")) if o.get(key)]
        if what:
            evidence.append("control plane %s has %s" % (o.get("host"), ", ".join(what)))
    if endpoint and int(endpoint.get("status") or -1) > 0:
        evidence.append("an API server answers at %s (HTTP %s)" % (endpoint.get("url"), endpoint.get("status")))
    for e in etcd or []:
        if e.get("registry_keys"):
            evidence.append("etcd member %s holds Kubernetes data (/registry/...)" % e.get("host"))
    if not evidence:
        return {"refuse": False, "evidence": [], "msg": "no cluster found: %s may create one" % host}
    msg = ("One cluster, always: %s would create new CAs or run kubeadm init, but a cluster already exists: %s. "
           "Nothing was changed by this check. " % (host, "; ".join(evidence))) + FIX_JOIN.format(host=host)
    return {"refuse": True, "evidence": evidence, "msg": msg}


_PATH_KEYS = {"/etc/kubernetes/manifests/kube-apiserver.yaml": "apiserver_manifest",
              "/etc/kubernetes/admin.conf": "admin_conf", "/var/lib/etcd/member": "etcd_member"}


def others_from_stat_results(results):
    """A looped ``stat`` (item = [host, path], ``ignore_unreachable``) -> the ``others`` of one_cluster_verdict."""
    by_host = {}
    for r in results or []:
        host, path = r["item"][0], r["item"][1]
        o = by_host.setdefault(host, {"host": host})
        if r.get("unreachable") or r.get("failed"):
            o["unreachable"] = True
            continue
        key = _PATH_KEYS.get(path)
        if key and (r.get("stat") or {}).get("exists"):
            o[key] = True
    return [by_host[h] for h in sorted(by_host)]


def etcd_from_command_results(results):
    """A looped etcdctl ``get /registry/namespaces/kube-system --keys-only`` -> the ``etcd`` of one_cluster_verdict."""
    return [{"host": r.get("item"), "registry_keys": "/registry/namespaces/kube-system" in (r.get("stdout") or "")}
            for r in results or [] if not r.get("unreachable")]


# --------------------------------------------------------------------------- Node ownership

def node_addresses(node):
    return sorted({a.get("address") for a in (node.get("status") or {}).get("addresses") or [] if a.get("address")})


def node_owned(node, address, machine_id=None):
    """True when the Node object is this machine's: it reports ``address`` or ``machine_id``."""
    if address and address in node_addresses(node):
        return True
    node_mid = ((node.get("status") or {}).get("nodeInfo") or {}).get("machineID") or ""
    if not node_mid:
        # nothing proves another machine (a kubelet always reports its machine ID; the kubeadm doubles do not,
        # and their Nodes may report 127.0.0.1): not refused
        return True
    return bool(machine_id) and machine_id.strip() == node_mid


def node_collisions(nodes, hosts):
    """Hosts whose name is an existing Node owned by another machine.

    ``nodes``: ``kubectl get nodes -o json`` (dict or text); ``hosts``: {name: {'address', 'machine_id'}} or [{'name', 'address', 'machine_id'}].
    Returns [{'host', 'address', 'node_addresses', 'node_machine_id', 'msg'}] (empty: no collision).
    """
    if isinstance(nodes, str):
        nodes = json.loads(nodes) if nodes.strip() else {"items": []}
    if isinstance(hosts, list):  # [{'name', 'address', 'machine_id'}], one fact per host
        hosts = dict((h["name"], h) for h in hosts if h)
    by_name = {n["metadata"]["name"]: n for n in (nodes or {}).get("items", [])}
    out = []
    for name in sorted(hosts):
        node = by_name.get(name)
        h = hosts[name] or {}
        if node is None or node_owned(node, h.get("address"), h.get("machine_id")):
            continue
        addrs = node_addresses(node)
        mid = ((node.get("status") or {}).get("nodeInfo") or {}).get("machineID") or ""
        out.append({
            "host": name, "address": h.get("address"), "node_addresses": addrs, "node_machine_id": mid,
            "msg": ("%s: a Node named %s already exists and belongs to another machine (its addresses %s, machine ID "
                    "%s; this host is %s, machine ID %s). Joining would be refused by kubeadm after the host was "
                    "prepared, and resetting it must not delete that Node. Fix: give this host another inventory "
                    "name, or, if it really replaces that machine, remove the old one first "
                    "(playbooks/remove_node.yml --limit %s while it still answers, or kubectl delete node %s)."
                    % (name, name, ", ".join(addrs) or "none", mid or "unknown", h.get("address"),
                       (h.get("machine_id") or "unknown").strip(), name, name))})
    return out


# --------------------------------------------------------------------------- protobuf (just enough)

def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise GroundworkError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def pb_fields(buf):
    """[(field number, wire type, value)] of one protobuf message; length-delimited values are bytes."""
    pos, out = 0, []
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            if pos + ln > len(buf):
                raise GroundworkError("truncated protobuf field %d" % num)
            val, pos = buf[pos:pos + ln], pos + ln
        elif wt == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wt == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        else:
            raise GroundworkError("unsupported protobuf wire type %d" % wt)
        out.append((num, wt, val))
    return out


def decode_secret(plain):
    """A Secret as the API server stores it (``k8s\\0`` + runtime.Unknown{raw: v1.Secret}) -> name, namespace, data.

    ``data`` maps each key to the sha256 of its value (values are never returned).
    """
    if not plain.startswith(b"k8s\x00"):
        raise GroundworkError("decrypted value is not a Kubernetes protobuf object (no k8s\\0 prefix): wrong key")
    unknown = dict((n, v) for n, wt, v in pb_fields(plain[4:]) if wt == 2)
    raw = unknown.get(2, b"")
    name = namespace = ""
    data = {}
    for num, wt, val in pb_fields(raw):
        if num == 1 and wt == 2:  # ObjectMeta
            for mn, mwt, mv in pb_fields(val):
                if mn == 1 and mwt == 2:
                    name = mv.decode("utf-8", "replace")
                elif mn == 3 and mwt == 2:
                    namespace = mv.decode("utf-8", "replace")
        elif num == 2 and wt == 2:  # map<string, bytes> data
            entry = dict((n, v) for n, ewt, v in pb_fields(val) if ewt == 2)
            data[entry.get(1, b"").decode("utf-8", "replace")] = hashlib.sha256(entry.get(2, b"")).hexdigest()
    return {"name": name, "namespace": namespace, "data_sha256": data}


# --------------------------------------------------------------------------- Secrets encryption (at rest)

def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _salsa_rounds(x):
    x = list(x)
    for _attempt in range(10):
        for a, b, c, d in ((0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11),
                           (0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14)):
            x[b] ^= _rotl((x[a] + x[d]) & 0xFFFFFFFF, 7)
            x[c] ^= _rotl((x[b] + x[a]) & 0xFFFFFFFF, 9)
            x[d] ^= _rotl((x[c] + x[b]) & 0xFFFFFFFF, 13)
            x[a] ^= _rotl((x[d] + x[c]) & 0xFFFFFFFF, 18)
    return x


_SIGMA = [int.from_bytes(b"expand 32-byte k"[i:i + 4], "little") for i in range(0, 16, 4)]


def _salsa_state(key, n16):
    k = [int.from_bytes(key[i:i + 4], "little") for i in range(0, 32, 4)]
    n = [int.from_bytes(n16[i:i + 4], "little") for i in range(0, 16, 4)]
    return [_SIGMA[0], k[0], k[1], k[2], k[3], _SIGMA[1], n[0], n[1], n[2], n[3], _SIGMA[2], k[4], k[5], k[6], k[7],
            _SIGMA[3]]


def _hsalsa20(key, n16):
    x = _salsa_rounds(_salsa_state(key, n16))
    return b"".join(x[i].to_bytes(4, "little") for i in (0, 5, 10, 15, 6, 7, 8, 9))


def _salsa20_stream(key, nonce8, length):
    out = bytearray()
    counter = 0
    while len(out) < length:
        s = _salsa_state(key, nonce8 + counter.to_bytes(8, "little"))
        x = _salsa_rounds(s)
        out += b"".join(((x[i] + s[i]) & 0xFFFFFFFF).to_bytes(4, "little") for i in range(16))
        counter += 1
    return bytes(out[:length])


def _poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:32], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        block = msg[i:i + 16] + b"\x01"
        acc = ((acc + int.from_bytes(block, "little")) * r) % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def secretbox_open(box, nonce, key):
    """NaCl secretbox (XSalsa20-Poly1305), what the API server's secretbox provider writes after the nonce."""
    if len(key) != 32 or len(nonce) != 24 or len(box) < 16:
        raise GroundworkError("secretbox: bad key, nonce or box length")
    subkey = _hsalsa20(key, nonce[:16])
    stream = _salsa20_stream(subkey, nonce[16:], 32 + len(box) - 16)
    tag, ct = box[:16], box[16:]
    if not hmac.compare_digest(_poly1305(stream[:32], ct), tag):
        raise GroundworkError("secretbox: authentication failed (wrong key or damaged value)")
    return bytes(a ^ b for a, b in zip(ct, stream[32:]))


def aescbc_decrypt(data, key, run=subprocess.run):
    """The aescbc provider: 16-byte IV then AES-CBC ciphertext with PKCS#7 padding (openssl CLI, no extra package)."""
    if len(data) < 32 or len(data) % 16:
        raise GroundworkError("aescbc: value of %d bytes is not an IV plus whole blocks" % len(data))
    cipher = {16: "-aes-128-cbc", 24: "-aes-192-cbc", 32: "-aes-256-cbc"}.get(len(key))
    if not cipher:
        raise GroundworkError("aescbc: key of %d bytes (16, 24 or 32 expected)" % len(key))
    proc = run(["openssl", "enc", "-d", cipher, "-K", key.hex(), "-iv", data[:16].hex()], input=data[16:],
               capture_output=True, check=False)
    if proc.returncode != 0:
        raise GroundworkError("aescbc: openssl could not decrypt (wrong key or damaged value): %s"
                              % proc.stderr.decode("utf-8", "replace").strip()[-300:])
    return proc.stdout


def encryption_keys(config):
    """EncryptionConfiguration (dict) -> [(provider, key name, key bytes)] for resource 'secrets'."""
    out = []
    for res in (config or {}).get("resources") or []:
        if "secrets" not in (res.get("resources") or []):
            continue
        for prov in res.get("providers") or []:
            for ptype in ("aescbc", "secretbox", "aesgcm"):
                for k in ((prov.get(ptype) or {}).get("keys") or []):
                    out.append((ptype, k.get("name", ""), base64.b64decode(k.get("secret", ""))))
            if "identity" in prov:
                out.append(("identity", "", b""))
    return out


def decrypt_value(value, config, run=subprocess.run):
    """One etcd value of a Secret -> (provider, key name, plaintext), with the configuration's keys."""
    if not value.startswith(b"k8s:enc:"):
        if any(p == "identity" for p, _name, _secret in encryption_keys(config)):
            return "identity", "", value
        raise GroundworkError("the Secret is stored unencrypted but the configuration has no identity provider")
    parts = value.split(b":", 5)
    if len(parts) < 6:
        raise GroundworkError("malformed encrypted value (expected k8s:enc:<provider>:v1:<key>:...)")
    provider, keyname, payload = parts[2].decode(), parts[4].decode(), parts[5]
    for ptype, name, key in encryption_keys(config):
        if ptype != provider or name != keyname:
            continue
        if ptype == "aescbc":
            return ptype, name, aescbc_decrypt(payload, key, run)
        if ptype == "secretbox":
            return ptype, name, secretbox_open(payload[24:], payload[:24], key)
        raise GroundworkError("provider %s is not supported by the drill (aescbc, secretbox, identity)" % ptype)
    raise GroundworkError("the Secret was written with %s key %r, which the bundled encryption configuration does not "
                          "have: Secrets restored from this bundle would be unreadable" % (provider, keyname))


# --------------------------------------------------------------------------- metrics and report

METRICS = (("groundwork_dr_drill_last_success_timestamp_seconds", "Time of the last DR drill that passed."),
           ("groundwork_dr_drill_last_result", "Result of the last DR drill (1 passed, 0 failed)."),
           ("groundwork_dr_drill_keys", "Keys in the etcd restored by the last passing DR drill."))


def previous_metrics(text):
    vals = {}
    for line in (text or "").splitlines():
        if line and not line.startswith("#") and " " in line:
            name, _sep, val = line.partition(" ")
            try:
                vals[name.split("{")[0]] = float(val.strip())
            except ValueError:
                continue
    return vals


def drill_metrics(result, now, previous_text=""):
    """Textfile-collector text; a failed drill keeps the last success time and key count of the previous file."""
    prev = previous_metrics(previous_text)
    ok = bool(result.get("ok"))
    values = {
        "groundwork_dr_drill_last_success_timestamp_seconds": int(now) if ok else prev.get(METRICS[0][0]),
        "groundwork_dr_drill_last_result": 1 if ok else 0,
        "groundwork_dr_drill_keys": result.get("keys") if ok else prev.get(METRICS[2][0]),
    }
    lines = []
    for name, help_text in METRICS:
        if values[name] is None:
            continue
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name, "%s %d" % (name, values[name])]
    return "\n".join(lines) + "\n"


def write_text_atomic(path, text, mode=0o644):
    d = os.path.dirname(path)
    os.makedirs(d, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- the drill

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def newest_bundle(directory, suffix=".tar.enc"):
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(suffix))
    except FileNotFoundError:
        names = []
    if not names:
        raise GroundworkError("no backup bundle in %s: nothing to drill (has backup.yml or the timer run yet?)" % directory)
    return os.path.join(directory, names[-1])


def find_encryption_config(opened_dir):
    base = os.path.join(opened_dir, "files", "etc", "kubernetes", "encryption")
    for root, _dirs, files in os.walk(base):
        for n in sorted(files):
            if n.endswith((".yaml", ".yml", ".json")):
                return os.path.join(root, n)
    return None


class Drill:
    """Runs one drill; tools are argv-level calls so tests can swap ``run`` and ``popen``."""

    def __init__(self, etcd_binary, etcdctl, etcdutl, run=subprocess.run, popen=subprocess.Popen, sleep=time.sleep,
                 clock=time.monotonic):
        self.etcd_binary, self.etcdctl, self.etcdutl = etcd_binary, etcdctl, etcdutl
        self.run, self.popen, self.sleep, self.clock = run, popen, sleep, clock

    def ctl(self, endpoint, *args):
        argv = [self.etcdctl, "--endpoints=%s" % endpoint, "--dial-timeout=3s", "--command-timeout=30s"] + list(args)
        proc = self.run(argv, capture_output=True, check=False, env=dict(os.environ, ETCDCTL_API="3", LC_ALL="C"))
        if proc.returncode != 0:
            raise GroundworkError("etcdctl %s failed: %s" % (" ".join(args[:2]),
                                                             proc.stderr.decode("utf-8", "replace").strip()[-300:]))
        return proc.stdout

    def restore(self, snapshot, data_dir, peer):
        tool = self.etcdutl if self.etcdutl and os.path.exists(self.etcdutl) else self.etcdctl
        argv = [tool, "snapshot", "restore", snapshot, "--data-dir=%s" % data_dir, "--name=drill",
                "--initial-cluster=drill=%s" % peer, "--initial-advertise-peer-urls=%s" % peer,
                "--initial-cluster-token=groundwork-dr-drill"]
        proc = self.run(argv, capture_output=True, check=False, env=dict(os.environ, ETCDCTL_API="3", LC_ALL="C"))
        if proc.returncode != 0:
            raise GroundworkError("snapshot restore failed: %s" % proc.stderr.decode("utf-8", "replace").strip()[-300:])
        return argv

    def start(self, data_dir, client, peer, log_path):
        log = open(log_path, "wb")
        argv = [self.etcd_binary, "--name=drill", "--data-dir=%s" % data_dir, "--listen-client-urls=%s" % client,
                "--advertise-client-urls=%s" % client, "--listen-peer-urls=%s" % peer,
                "--initial-advertise-peer-urls=%s" % peer, "--initial-cluster=drill=%s" % peer, "--log-level=warn"]
        return self.popen(argv, stdout=log, stderr=subprocess.STDOUT), log

    def wait_healthy(self, endpoint, timeout=60):
        until = self.clock() + timeout
        last = ""
        while self.clock() < until:
            try:
                self.ctl(endpoint, "endpoint", "health")
                return
            except GroundworkError as exc:
                last = exc.msg
            self.sleep(1)
        raise GroundworkError("the throwaway etcd did not become healthy in %ds: %s" % (timeout, last))

    def count(self, endpoint):
        # count is the range's total even with --limit (--count-only is 3.5+ only)
        out = json.loads(self.ctl(endpoint, "get", "", "--prefix", "--keys-only", "--limit=1", "-w", "json"))
        return int(out.get("count", 0)), int(out["header"]["revision"])

    def secret_value(self, endpoint, secret):
        """(etcd key, value bytes) of the named Secret, or of the first Secret when ``secret`` is empty."""
        if secret:
            ns, _sep, name = secret.rpartition("/")
            key = "/registry/secrets/%s/%s" % (ns or "default", name)
            out = json.loads(self.ctl(endpoint, "get", key, "-w", "json"))
        else:
            out = json.loads(self.ctl(endpoint, "get", "/registry/secrets/", "--prefix", "--limit=1", "-w", "json"))
        kvs = out.get("kvs") or []
        if not kvs:
            raise GroundworkError("no Secret %s in the restored etcd" % (secret or "at all"))
        return base64.b64decode(kvs[0]["key"]).decode(), base64.b64decode(kvs[0].get("value", ""))


def run_drill(drill, bundle_dir, key_file, secret="", workdir=None, open_bundle=None, load_yaml=None):
    """The whole drill; returns the report dict (``ok`` True) or raises GroundworkError. Cleans up after itself."""
    t0 = time.time()
    bundle = newest_bundle(bundle_dir)
    work = tempfile.mkdtemp(prefix="groundwork-dr-drill.", dir=workdir)
    proc = log = None
    report = {"bundle": os.path.basename(bundle)}
    try:
        opened = os.path.join(work, "opened")
        manifest = open_bundle(bundle, key_file, opened)
        keys = ("revision", "total_keys", "cluster_id_hex", "taken_at", "member")
        report["snapshot"] = {k: manifest.get("snapshot", {}).get(k) for k in keys}
        data_dir = os.path.join(work, "data")
        client, peer = "http://127.0.0.1:%d" % free_port(), "http://127.0.0.1:%d" % free_port()
        drill.restore(os.path.join(opened, "snapshot.db"), data_dir, peer)
        proc, log = drill.start(data_dir, client, peer, os.path.join(work, "etcd.log"))
        drill.wait_healthy(client)
        report["keys"], report["revision"] = drill.count(client)
        enc_path = find_encryption_config(opened)
        if not enc_path:
            raise GroundworkError("the bundle has no Secrets encryption configuration (files/etc/kubernetes/encryption): "
                                  "Secrets restored from it would be unreadable")
        with open(enc_path) as f:
            config = load_yaml(f.read())
        key, value = drill.secret_value(client, secret)
        provider, keyname, plain = decrypt_value(value, config, drill.run)
        decoded = decode_secret(plain)
        report["secret"] = dict(decoded, etcd_key=key, provider=provider, key_name=keyname)
        report["ok"] = True
        report["seconds"] = round(time.time() - t0, 1)
        return report
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except Exception:  # pylint: disable=broad-except
                proc.kill()
        if log is not None:
            log.close()
        shutil.rmtree(work, ignore_errors=True)  # our scratch dir (decrypted bundle, restored data)
