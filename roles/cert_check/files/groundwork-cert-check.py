#!/bin/sh
# Runs itself with python3 (a POSIX sh line that Python reads as a string):
''''exec python3 "$0" "$@" # '''
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
DESCRIPTION = """groundwork-cert-check: report the expiry of a node's Kubernetes certificates.

Reads every *.crt below the PKI dir, the client certificates embedded in (or referenced by) the
kubeconfigs, and any extra files; writes a Prometheus textfile metric (atomically) and logs one
journal line (stdout, with a syslog priority prefix: warning when something expires within the
threshold). Python 3 standard library only; parses certificates with `cryptography` when it is
installed, else with the `openssl` CLI. Usage: groundwork-cert-check [--config FILE] [--print].
"""

import argparse
import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULTS = {
    "pki_dir": "/etc/kubernetes/pki",
    "kubeconfig_dir": "/etc/kubernetes",
    "extra_paths": [],
    "threshold_days": 30,
    "textfile": "/var/lib/node_exporter/textfile_collector/groundwork_certs.prom",
}
PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.S)
KC = re.compile(r"^\s*(client-certificate-data|client-certificate):\s*(\S+)\s*$", re.M)

try:
    from cryptography import x509

    def not_after(der):
        cert = x509.load_der_x509_certificate(der)
        value = getattr(cert, "not_valid_after_utc", None)
        return value.timestamp() if value is not None else \
            cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp()
    PARSER = "cryptography"
except ImportError:
    def not_after(der):
        out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-enddate"], input=der,
                             capture_output=True, check=True, env=dict(os.environ, LC_ALL="C")).stdout.decode()
        text = out.strip().split("=", 1)[1]
        return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    PARSER = "openssl"


def first_cert_der(text):
    m = PEM.search(text)
    return base64.b64decode("".join(m.group(1).split())) if m else None


def read(path):
    with open(path, "r", encoding="ascii", errors="replace") as f:
        return f.read()


def sources(cfg):
    """(label path, PEM text) of every certificate to check."""
    out = []
    for root, dirs, files in os.walk(cfg["pki_dir"]):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".crt"):
                out.append((os.path.join(root, name), os.path.join(root, name)))
    if cfg["kubeconfig_dir"] and os.path.isdir(cfg["kubeconfig_dir"]):
        for name in sorted(os.listdir(cfg["kubeconfig_dir"])):
            if name.endswith(".conf"):
                out.append((os.path.join(cfg["kubeconfig_dir"], name), os.path.join(cfg["kubeconfig_dir"], name)))
    out += [(p, p) for p in cfg["extra_paths"]]
    return out


def kubeconfig_credentials(text):
    """(key, value) of the client certificate entries of a kubeconfig, YAML or JSON (kubeconfigs
    written by client-go tools may be JSON, which is YAML too but has no "key: value" lines)."""
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        out = []
        for entry in doc.get("users") or []:
            user = (entry or {}).get("user") or {}
            out += [(k, user[k]) for k in ("client-certificate-data", "client-certificate") if user.get(k)]
        return out
    return [(k, v.strip("'\"")) for k, v in KC.findall(text)]


def certificate_of(path):
    text = read(path)
    if path.endswith(".conf"):
        for key, value in kubeconfig_credentials(text):
            if key == "client-certificate-data":
                return first_cert_der(base64.b64decode(value).decode("ascii", "replace"))
            if not os.path.isabs(value):
                value = os.path.join(os.path.dirname(path), value)
            if os.path.isfile(value):
                return first_cert_der(read(value))
        return None
    return first_cert_der(text)


def escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def check(cfg, now=None):
    now = time.time() if now is None else now
    rows, errors = [], []
    for label, path in sources(cfg):
        try:
            der = certificate_of(path)
            if der is None:
                continue
            rows.append({"path": label, "seconds_left": int(not_after(der) - now)})
        except (OSError, ValueError, subprocess.CalledProcessError, IndexError) as exc:
            errors.append({"path": label, "error": str(exc)[:200]})
    return rows, errors


def metrics(rows, errors, cfg, now):
    limit = cfg["threshold_days"] * 86400
    lines = ["# HELP groundwork_cert_expiry_seconds Seconds until the certificate expires (negative: expired).",
             "# TYPE groundwork_cert_expiry_seconds gauge"]
    lines += ['groundwork_cert_expiry_seconds{path="%s"} %d' % (escape(r["path"]), r["seconds_left"]) for r in rows]
    lines += ["# HELP groundwork_cert_expiring Whether the certificate expires within the threshold.",
              "# TYPE groundwork_cert_expiring gauge"]
    lines += ['groundwork_cert_expiring{path="%s",threshold_days="%d"} %d'
              % (escape(r["path"]), cfg["threshold_days"], 1 if r["seconds_left"] < limit else 0) for r in rows]
    lines += ["# HELP groundwork_cert_check_errors Certificates that could not be read.",
              "# TYPE groundwork_cert_check_errors gauge", "groundwork_cert_check_errors %d" % len(errors),
              "# HELP groundwork_cert_check_timestamp_seconds When the check last ran.",
              "# TYPE groundwork_cert_check_timestamp_seconds gauge", "groundwork_cert_check_timestamp_seconds %d" % now]
    return "\n".join(lines) + "\n"


def write_atomic(path, text):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".groundwork_certs.", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    shutil.move(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=DESCRIPTION.splitlines()[0])
    parser.add_argument("--config", default="/etc/groundwork/cert-check.json")
    parser.add_argument("--print", action="store_true", help="print the metrics instead of writing the textfile")
    args = parser.parse_args(argv)
    cfg = dict(DEFAULTS)
    if os.path.exists(args.config):
        with open(args.config) as f:
            cfg.update(json.load(f))
    now = time.time()
    rows, errors = check(cfg, now)
    text = metrics(rows, errors, cfg, now)
    if args.print:
        sys.stdout.write(text)
        return 0
    write_atomic(cfg["textfile"], text)
    limit = cfg["threshold_days"] * 86400
    due = sorted((r for r in rows if r["seconds_left"] < limit), key=lambda r: r["seconds_left"])
    if due:
        listed = ", ".join("%s (%dd)" % (r["path"], r["seconds_left"] // 86400) for r in due)
        print("<4>groundwork-cert-check: %d of %d certificates expire within %d days: %s"
              % (len(due), len(rows), cfg["threshold_days"], listed))
    else:
        soonest = min((r["seconds_left"] for r in rows), default=None)
        print("<6>groundwork-cert-check: %d certificates, none expires within %d days (soonest in %s days; parser %s)"
              % (len(rows), cfg["threshold_days"], "n/a" if soonest is None else soonest // 86400, PARSER))
    for e in errors:
        print("<3>groundwork-cert-check: cannot read %s: %s" % (e["path"], e["error"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
