#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: encryption_key
short_description: One step of the Secrets encryption key rotation on a control plane
version_added: 0.1.0
description:
  - The steps of the upstream procedure ("Rotating a decryption key") on one control plane's
    EncryptionConfiguration, each idempotent and decided from the file itself. C(playbooks/rotate_encryption_key.yml)
    runs them in order, restarting each API server after its file changed.
  - C(info) reads the configuration and the rotation record beside it (key names, the provider, whether the running
    kube-apiserver started before the file was last written). Its result holds the key material (C(secrets));
    register it with C(no_log).
  - C(record) writes the rotation record (old and new key names) before the first key is added; C(finish) closes it.
  - C(add) puts the new key second, C(promote) first, C(remove) drops the old key. A step whose previous step is not
    done yet on this file is refused (in check mode the earlier steps are assumed, so the diff shows what the run would do).
  - C(rewrite) (run once, on one control plane) reads every Secret and writes it back through the API, namespace by
    namespace, so that each is stored with the key that is first now; a Secret changed or deleted meanwhile is counted,
    not an error (it was written with the new key, or is gone).
  - Files are written 0600 through a temporary file and an atomic move. Key material is never printed; the diff shows
    key names.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Key names before and after, never key material.
  idempotent:
    support: full
options:
  step:
    description: What to do (see the description).
    type: str
    required: true
    choices: [info, record, add, promote, remove, finish, rewrite]
  path:
    description: The EncryptionConfiguration the API server reads (C(--encryption-provider-config)).
    type: path
    default: /etc/kubernetes/encryption/config.yaml
  record_path:
    description: The rotation record (JSON, old and new key names).
    type: path
    default: /etc/kubernetes/encryption/rotation.json
  old:
    description: Name of the key being replaced (all steps but C(info) and C(rewrite)).
    type: str
  new:
    description: Name of the new key (all steps but C(info) and C(rewrite)).
    type: str
  secret:
    description: The new key's material (base64) for C(add) when no key of that name is in the file yet.
    type: str
  kubectl:
    description: kubectl binary (C(rewrite)).
    type: str
    default: kubectl
  kubeconfig:
    description: Kubeconfig of a cluster administrator (C(rewrite)).
    type: path
    default: /etc/kubernetes/admin.conf
  batch:
    description: Secrets per C(kubectl replace) call (C(rewrite)).
    type: int
    default: 200
seealso:
  - name: Rotating a decryption key (Kubernetes documentation)
    description: The procedure these steps follow.
    link: https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/#rotating-a-decryption-key
"""

EXAMPLES = r"""
- name: Read the keys of this control plane
  groundwork.k8s.encryption_key:
    step: info
  register: enc
  no_log: true

- name: Add the new key as the second key
  groundwork.k8s.encryption_key:
    step: add
    old: key1
    new: key-20261206
    secret: "{{ new_key }}"
  no_log: true

- name: Rewrite every Secret with the key that is first now
  groundwork.k8s.encryption_key:
    step: rewrite
  run_once: true
"""

RETURN = r"""
provider:
  description: The provider that encrypts Secrets (C(aescbc), C(aesgcm), C(secretbox)).
  returned: success
  type: str
keys:
  description: Key names after the step (in check mode, as they would be), first = the one new writes use.
  returned: success
  type: list
  elements: str
keys_before:
  description: Key names before the step.
  returned: step is add, promote or remove
  type: list
  elements: str
secrets:
  description: Key name -> key material. Register C(info) with C(no_log).
  returned: step is info
  type: dict
record:
  description: The rotation record (C(old), C(new), C(state), C(updated)), empty when there is none.
  returned: success
  type: dict
error:
  description: Why the configuration cannot be rotated (C(info) reports it instead of failing, so that every control plane is named).
  returned: step is info
  type: str
restart_needed:
  description: The running kube-apiserver started before the file was last written (or is not running).
  returned: step is not rewrite
  type: bool
counts:
  description: Secrets found, replaced, conflict (changed since read), gone (deleted since), failed.
  returned: step is rewrite
  type: dict
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils import _enckey as E
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import write_atomic

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False


def _apiserver_started():
    try:
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    starts = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() != "kube-apiserver":
                    continue
            with open("/proc/%s/stat" % pid) as f:
                starts.append(E.process_start(f.read(), btime, hz))
        except (OSError, ValueError, IndexError):
            continue
    return min(starts) if starts else None


def _read_record(path):
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _read_config(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise GroundworkError("%s does not exist: Secrets encryption is not enabled on this control plane "
                              "(control_plane_encryption: true and site.yml write it)" % path)
    except (OSError, yaml.YAMLError) as exc:
        raise GroundworkError("cannot read %s: %s" % (path, exc))


def _restart_needed(path):
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return True
    return E.restart_needed(mtime, _apiserver_started())


def _rewrite(module, p):
    kc = [p["kubectl"], "--kubeconfig", p["kubeconfig"], "--request-timeout=60s"]
    rc, out, err = module.run_command(kc + ["get", "secrets", "--all-namespaces", "-o", "json"])
    if rc != 0:
        raise GroundworkError("kubectl get secrets failed (rc %d): %s" % (rc, err.strip()[:500]))
    batches, total = E.secret_batches(json.loads(out), p["batch"])
    counts = {"found": total, "replaced": 0, "conflict": 0, "gone": 0, "failed": 0}
    errors = []
    if module.check_mode:
        return counts, errors
    for ns, doc in batches:
        rc, out, err = module.run_command(kc + ["replace", "-f", "-"], data=json.dumps(doc), binary_data=True)
        res = E.classify_replace(ns, out, err)
        for k in ("replaced", "conflict", "gone", "failed"):
            counts[k] += res[k]
        errors += res["errors"]
        if rc != 0 and not (res["conflict"] or res["gone"] or res["failed"]):
            counts["failed"] += 1
            errors.append("%s: kubectl replace rc %d: %s" % (ns, rc, err.strip()[:300]))
    return counts, errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            step=dict(type="str", required=True, choices=["info", "record", "add", "promote", "remove", "finish", "rewrite"]),
            path=dict(type="path", default="/etc/kubernetes/encryption/config.yaml"),
            record_path=dict(type="path", default="/etc/kubernetes/encryption/rotation.json"),
            old=dict(type="str"),
            new=dict(type="str"),
            secret=dict(type="str", no_log=True),
            kubectl=dict(type="str", default="kubectl"),
            kubeconfig=dict(type="path", default="/etc/kubernetes/admin.conf"),
            batch=dict(type="int", default=200),
        ),
        required_if=[
            ("step", "record", ("old", "new")), ("step", "add", ("old", "new")), ("step", "promote", ("old", "new")),
            ("step", "remove", ("old", "new")), ("step", "finish", ("old", "new"))],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg="PyYAML is required on the control plane (python3-yaml)")
    p = module.params
    step = p["step"]
    try:
        if step == "rewrite":
            counts, errors = _rewrite(module, p)
            if counts["failed"]:
                module.fail_json(msg="%d Secret(s) could not be rewritten: %s. Nothing else was changed by this step; fix "
                                     "the cause and re-run the same command (the rotation resumes here)"
                                     % (counts["failed"], "; ".join(errors)), counts=counts)
            module.exit_json(changed=bool(counts["replaced"]) or (module.check_mode and counts["found"] > 0), counts=counts)

        record = _read_record(p["record_path"])
        if step == "info":
            try:
                s = E.summarize(_read_config(p["path"]))
            except GroundworkError as exc:
                module.exit_json(changed=False, error=exc.msg, provider="", keys=[], secrets={}, record=record,
                                 restart_needed=False)
            module.exit_json(changed=False, error="", provider=s["provider"], keys=s["names"], secrets=s["secrets"],
                             record=record, restart_needed=_restart_needed(p["path"]))

        for name, var in ((p["old"], "old"), (p["new"], "new")):
            E.check_key_name(name, var)
        if p["old"] == p["new"]:
            raise GroundworkError("old and new are the same key name (%s)" % p["old"])

        if step in ("record", "finish"):
            state = "rotating" if step == "record" else "done"
            want = {"old": p["old"], "new": p["new"], "state": state}
            have = {k: record.get(k) for k in want}
            changed = have != want
            if changed and not module.check_mode:
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                write_atomic(p["record_path"], E.record(p["old"], p["new"], state, now).encode(), mode=0o600)
            result = dict(changed=changed, record=want, restart_needed=_restart_needed(p["path"]), keys=[])
            if module._diff:
                result["diff"] = {"before": json.dumps(have, sort_keys=True) + "\n", "after": json.dumps(want, sort_keys=True) + "\n",
                                  "before_header": p["record_path"], "after_header": p["record_path"]}
            module.exit_json(**result)

        config = _read_config(p["path"])
        provider = E.summarize(config)["provider"]
        new_config, before, after = E.apply_step(config, step, p["old"], p["new"], p["secret"], through=module.check_mode)
        changed = before != after
        if changed and not module.check_mode:
            content = yaml.safe_dump(new_config, default_flow_style=False, sort_keys=False).encode()
            write_atomic(p["path"], content, mode=0o600)
        result = dict(changed=changed, provider=provider, keys=after, keys_before=before, record=record,
                      restart_needed=_restart_needed(p["path"]) if not (changed and module.check_mode) else True)
        if module._diff:
            result["diff"] = {"before_header": p["path"], "after_header": p["path"],
                              "before": E.describe(before, provider), "after": E.describe(after, provider)}
        module.exit_json(**result)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg, **exc.details)


if __name__ == "__main__":
    main()
