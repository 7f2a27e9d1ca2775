# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scenario 50: check the CA-rotation phase of lab nodes from copies of their /etc/kubernetes.

    pki_check.py PHASE BEFORE REF CUR HOST...
    pki_check.py days SNAP MIN_DAYS HOST...     (every leaf / kubeconfig client cert valid MIN_DAYS more days)

PHASE is none, trusted, reissued or retired. BEFORE, REF and CUR are snapshot dirs holding
<host>/etc/kubernetes: BEFORE taken before phase 1 (the old CAs), REF after phase 1 (tells the new
CAs: what a trust file gained), CUR the state to check. Independent of the collection's code:
Python (with PyYAML, for kubeconfigs in YAML or JSON) and the openssl CLI only. Checked, per host and per rotated item
(ca, front-proxy-ca, etcd-ca, sa) the host holds:
  * the trust file (ca.crt, front-proxy-ca.crt, etcd/ca.crt, sa.pub) holds exactly what PHASE wants:
    none old, trusted old+new, reissued new+old, retired new; every host has the same new CA;
  * the signing key beside it (ca.key, ..., sa.key) matches the first entry of the trust file; where ca.key is,
    ca-signer.crt (controller-manager's signing certificate) is exactly that first certificate;
  * the certificate-authority-data of every kubeconfig equals ca.crt;
  * every leaf (pki/*.crt, pki/etcd/*.crt) and kubeconfig client certificate verifies (openssl verify)
    against its CA of the signing generation (old before phase 2, new from phase 2 on) and NOT against
    the other generation;
  * from phase 1 on, state.json has the phase, nothing in progress, and each phase begun once (a re-run
    or a resume did not redo a finished node); once retired, the staged new keys and the saved old trust
    material are gone.
Prints one line per problem ("BAD host: ...") and a summary; exits 1 when there is any problem.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ITEMS = (  # name, trust file, key file, PEM label
    ("ca", "ca.crt", "ca.key", "CERTIFICATE"),
    ("front-proxy-ca", "front-proxy-ca.crt", "front-proxy-ca.key", "CERTIFICATE"),
    ("etcd-ca", "etcd/ca.crt", "etcd/ca.key", "CERTIFICATE"),
    ("sa", "sa.pub", "sa.key", "PUBLIC KEY"),
)
KUBECONFIGS = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf")
PEM = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.S)
PHASES = ("none", "trusted", "reissued", "retired")


def blocks(text, label):
    """Normalised PEM blocks of one label, in order."""
    out = []
    for m in PEM.finditer(text or ""):
        if m.group("label") == label:
            body = "".join(m.group("body").split())
            out.append("-----BEGIN %s-----\n%s\n-----END %s-----\n"
                       % (label, "\n".join(body[i:i + 64] for i in range(0, len(body), 64)), label))
    return out


def fp(block):
    body = "".join(block.split("-----")[2].split())
    return hashlib.sha256(base64.b64decode(body)).hexdigest()[:16]


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def openssl(*args, stdin=None):
    p = subprocess.run(("openssl",) + args, input=stdin, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout


def public_of_key(key_path):
    rc, out = openssl("pkey", "-in", key_path, "-pubout")
    return blocks(out, "PUBLIC KEY")[0] if rc == 0 and blocks(out, "PUBLIC KEY") else None


def public_of_cert(cert_pem):
    rc, out = openssl("x509", "-noout", "-pubkey", stdin=cert_pem)
    return blocks(out, "PUBLIC KEY")[0] if rc == 0 and blocks(out, "PUBLIC KEY") else None


def verifies(leaf_pem, ca_pems, tmp):
    ca_file = os.path.join(tmp, "ca.pem")
    leaf_file = os.path.join(tmp, "leaf.pem")
    with open(ca_file, "w") as f:
        f.write("".join(ca_pems))
    with open(leaf_file, "w") as f:
        f.write(leaf_pem)
    return openssl("verify", "-no-CApath", "-no-CAstore", "-CAfile", ca_file, leaf_file)[0] == 0


def leaf_ca(rel):
    if rel.startswith("etcd/") or rel == "apiserver-etcd-client.crt":
        return "etcd-ca"
    if rel.startswith("front-proxy-"):
        return "front-proxy-ca"
    return "ca"


def pki_leaves(pki):
    """(path relative to pki, [first certificate PEM], CA name) of every leaf file."""
    out = []
    for root, dirs, files in os.walk(pki):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(root, f), pki)
            if f.endswith(".crt") and rel not in ("ca.crt", "front-proxy-ca.crt", "etcd/ca.crt", "ca-signer.crt"):
                out.append((rel, blocks(read(os.path.join(root, f)), "CERTIFICATE")[:1], leaf_ca(rel)))
    return out


def kubeconfig(path):
    """([cluster dicts], [user dicts]) of a kubeconfig in YAML (as kubeadm writes it) or JSON (the kubeadm
    double's kubelet.conf on a joined node); ([], []) when the file does not exist."""
    text = read(path)
    if text is None:
        return [], []
    doc = yaml.safe_load(text)
    return [c["cluster"] for c in doc["clusters"]], [u["user"] for u in doc["users"]]


def days(argv):
    """days SNAP MIN_DAYS HOST...: every leaf and kubeconfig client certificate valid MIN_DAYS more days."""
    snap, min_days, hosts = argv[2], int(argv[3]), argv[4:]
    short, count = [], 0
    for host in hosts:
        kdir = os.path.join(snap, host, "etc/kubernetes")
        certs = [(rel, cert) for rel, cert, _ca in pki_leaves(os.path.join(kdir, "pki"))]
        for conf in KUBECONFIGS:
            for user in kubeconfig(os.path.join(kdir, conf))[1]:
                if "client-certificate-data" in user:
                    certs.append((conf, blocks(base64.b64decode(user["client-certificate-data"]).decode(), "CERTIFICATE")[:1]))
        for rel, cert in certs:
            count += 1
            if not cert or openssl("x509", "-noout", "-checkend", str(min_days * 86400), stdin=cert[0])[0] != 0:
                short.append("%s:%s" % (host, rel))
    print("%d of %d certificates on %s valid less than %d days%s"
          % (len(short), count, ",".join(hosts), min_days, (": " + " ".join(short)) if short else ""))
    return 1 if short or not count else 0


def main(argv):
    if argv[1] == "days":
        return days(argv)
    phase, before, ref, cur, hosts = argv[1], argv[2], argv[3], argv[4], argv[5:]
    assert phase in PHASES, phase
    signer = "new" if phase in ("reissued", "retired") else "old"
    problems, counts, new_seen = [], {"trust": 0, "key": 0, "kubeconfig": 0, "leaf": 0, "state": 0}, {}
    tmp = tempfile.mkdtemp()

    def bad(host, kind, msg):
        counts[kind] += 1
        problems.append("BAD %s: [%s] %s" % (host, kind, msg))

    checked = 0
    for host in hosts:
        old_pki = os.path.join(before, host, "etc/kubernetes/pki")
        ref_pki = os.path.join(ref, host, "etc/kubernetes/pki")
        kdir = os.path.join(cur, host, "etc/kubernetes")
        pki = os.path.join(kdir, "pki")
        if not os.path.isdir(pki):
            bad(host, "state", "no %s" % pki)
            continue
        gen = {}  # name -> {"old": [...], "new": [...]} (certificates only)
        for name, trust, key, label in ITEMS:
            old = blocks(read(os.path.join(old_pki, trust)), label)
            if not old:
                continue  # the host does not hold this item
            new = [b for b in blocks(read(os.path.join(ref_pki, trust)), label) if b not in old]
            have = blocks(read(os.path.join(pki, trust)), label)
            if phase != "none" and len(new) != 1:
                bad(host, "trust", "%s: phase 1 added %d entries, expected one new %s" % (trust, len(new), name))
                new = new[:1]
            if new:
                new_seen.setdefault(name, set()).add(fp(new[0]))
            want = {"none": old, "trusted": old + new, "reissued": new + old, "retired": new}[phase]
            checked += 1
            if [fp(b) for b in have] != [fp(b) for b in want]:
                bad(host, "trust", "%s holds %s, phase %s wants %s (old %s, new %s)"
                    % (trust, [fp(b) for b in have], phase, [fp(b) for b in want], [fp(b) for b in old],
                       [fp(b) for b in new]))
            key_path = os.path.join(pki, key)
            if os.path.exists(key_path) and have:
                checked += 1
                first_pub = have[0] if label == "PUBLIC KEY" else public_of_cert(have[0])
                if public_of_key(key_path) != first_pub:
                    bad(host, "key", "%s does not match the first entry of %s" % (key, trust))
            if label == "CERTIFICATE":
                gen[name] = {"old": old, "new": new}
        ca_now = blocks(read(os.path.join(pki, "ca.crt")), "CERTIFICATE")
        if os.path.exists(os.path.join(pki, "ca.key")) and ca_now:
            # controller-manager's signing certificate: exactly one, the first of ca.crt (matching ca.key)
            checked += 1
            signer_now = blocks(read(os.path.join(pki, "ca-signer.crt")), "CERTIFICATE")
            if [fp(b) for b in signer_now] != [fp(ca_now[0])]:
                bad(host, "key", "ca-signer.crt holds %s, wants exactly the first certificate of ca.crt %s"
                    % ([fp(b) for b in signer_now], fp(ca_now[0])))
        leaves = pki_leaves(pki)
        for conf in KUBECONFIGS:
            try:
                clusters, users = kubeconfig(os.path.join(kdir, conf))
            except (yaml.YAMLError, KeyError, TypeError) as exc:
                bad(host, "kubeconfig", "%s: cannot read it (%s)" % (conf, exc))
                continue
            for cluster in clusters:
                checked += 1
                if "certificate-authority-data" not in cluster:
                    bad(host, "kubeconfig", "%s has no certificate-authority-data" % conf)
                    continue
                data = blocks(base64.b64decode(cluster["certificate-authority-data"]).decode(), "CERTIFICATE")
                if [fp(b) for b in data] != [fp(b) for b in ca_now]:
                    bad(host, "kubeconfig", "%s certificate-authority-data %s != ca.crt %s"
                        % (conf, [fp(b) for b in data], [fp(b) for b in ca_now]))
            for user in users:
                if "client-certificate-data" in user:
                    leaves.append((conf, blocks(base64.b64decode(user["client-certificate-data"]).decode(),
                                                "CERTIFICATE")[:1], "ca"))
        other = "old" if signer == "new" else "new"
        for rel, cert, ca in leaves:
            if not cert or ca not in gen:
                bad(host, "leaf", "%s: no certificate, or its CA (%s) is not on the host" % (rel, ca))
                continue
            checked += 1
            if not gen[ca][signer] or not verifies(cert[0], gen[ca][signer], tmp):
                bad(host, "leaf", "%s does not verify against the %s %s" % (rel, signer, ca))
            if gen[ca][other] and verifies(cert[0], gen[ca][other], tmp):
                bad(host, "leaf", "%s verifies against the %s %s" % (rel, other, ca))
        state_text = read(os.path.join(pki, ".rotation/state.json"))
        if phase != "none":
            checked += 1
            state = json.loads(state_text) if state_text else {}
            if state.get("phase") != phase or state.get("in_progress"):
                bad(host, "state", "state.json phase %r, in progress %r; expected %s, none"
                    % (state.get("phase"), state.get("in_progress"), phase))
            # each phase begun once: a re-run or a resume never redoes a finished node
            begun = [e.get("phase") for e in state.get("history", []) if e.get("event") == "begin"]
            if begun != list(PHASES[1:PHASES.index(phase) + 1]):
                bad(host, "state", "phases begun %s; expected each of %s once" % (begun, list(PHASES[1:PHASES.index(phase) + 1])))
        if phase == "retired":
            for d in ("new", "old"):
                checked += 1
                left = os.path.join(pki, ".rotation", d)
                if os.path.exists(left) and os.listdir(left):
                    bad(host, "state", "%s still holds %s" % (left, sorted(os.listdir(left))))
    for name, fps in sorted(new_seen.items()):
        if len(fps) > 1:
            bad("*", "trust", "hosts disagree on the new %s: %s" % (name, sorted(fps)))
    for line in problems:
        print(line)
    print("pki_check %s: %d checks on %s, %d problems %s"
          % (phase, checked, ",".join(hosts), len(problems), json.dumps(counts, sort_keys=True)))
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
