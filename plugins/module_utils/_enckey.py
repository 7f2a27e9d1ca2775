# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Rotation of the Secrets encryption key (issue 18), as data.

The upstream procedure (kubernetes.io, "Rotating a decryption key") on every control plane:
``add`` the new key as the second key of the provider and restart every API server, one at a
time; ``promote`` it to the first key (new writes use it) with a second rolling restart;
``rewrite`` every Secret through the API; ``remove`` the old key with a third rolling restart.

The state of a rotation is read from the control planes: each one's EncryptionConfiguration
(key names in order) and the rotation record written beside it before the first key is added
(``{"old": ..., "new": ...}``; it tells which of two keys is the new one while the control
planes are between steps: ``[A]`` beside ``[A, N]`` looks like ``[N]`` beside ``[N, A]``).
Nothing here prints key material: errors and plans name keys by their names only.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
import re

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

# providers that hold keys we can rotate, in the order upstream recommends them
KEYED_PROVIDERS = ("secretbox", "aesgcm", "aescbc")
KEY_SIZES = {"secretbox": (32,), "aesgcm": (16, 24, 32), "aescbc": (16, 24, 32)}
STEPS = ("add", "promote", "remove")
# a key name ends up in every stored value's prefix k8s:enc:<provider>:v1:<name>: (no colon)
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
LEVELS = ("only the old key", "old key first, new key second", "new key first, old key second", "only the new key")


# --------------------------------------------------------------------------- one configuration
def _secrets_resource(config):
    if not isinstance(config, dict) or config.get("kind") != "EncryptionConfiguration":
        raise GroundworkError("not an EncryptionConfiguration (kind %r)" % (config or {}).get("kind")
                              if isinstance(config, dict) else "not an EncryptionConfiguration (not a mapping)")
    for ri, res in enumerate(config.get("resources") or []):
        names = res.get("resources") or []
        if "secrets" in names or "secrets." in names or "*.*" in names:
            return ri, res
    raise GroundworkError("no resources entry covers secrets: Secrets are not encrypted at rest (control_plane_encryption)")


def summarize(config):
    """{provider, names, secrets, resource_index, provider_index} of the provider that encrypts Secrets.

    Refuses what a key rotation cannot handle: Secrets not encrypted (no entry, or identity first),
    a KMS provider (its key lives in the KMS plugin) and an unknown provider.
    """
    ri, res = _secrets_resource(config)
    providers = res.get("providers") or []
    if not providers:
        raise GroundworkError("the secrets entry lists no providers")
    first = providers[0]
    kind = next(iter(first), None) if isinstance(first, dict) and len(first) == 1 else None
    if kind == "identity":
        raise GroundworkError("identity is the first provider for secrets: new Secrets are stored in plain text and "
                              "there is no key to rotate (control_plane_encryption: true writes an encrypting configuration)")
    if kind == "kms":
        raise GroundworkError("the first provider for secrets is kms: its key is rotated in the KMS plugin, not here")
    if kind not in KEYED_PROVIDERS:
        raise GroundworkError("the first provider for secrets is %r: only %s keys are rotated here"
                              % (kind, ", ".join(KEYED_PROVIDERS)))
    keys = (first[kind] or {}).get("keys") or []
    if not keys:
        raise GroundworkError("the %s provider has no keys" % kind)
    names, secrets = [], {}
    for k in keys:
        name, secret = str(k.get("name", "")), str(k.get("secret", ""))
        if not name or name in secrets:
            raise GroundworkError("the %s provider has an empty or repeated key name (%r)" % (kind, name))
        names.append(name)
        secrets[name] = secret
    return {"provider": kind, "names": names, "secrets": secrets, "resource_index": ri, "provider_index": 0}


def check_key_name(name, variable="rotate_encryption_key_name"):
    if not KEY_NAME_RE.match(str(name or "")):
        raise GroundworkError("%s=%r is not a usable key name: 1-63 letters, digits, '.', '_' or '-', starting with a letter "
                              "or digit (it is written into every encrypted value's prefix). Set %s to such a name."
                              % (variable, name, variable))


def check_secret(secret, provider):
    try:
        raw = base64.b64decode(str(secret), validate=True)
    except (binascii.Error, ValueError):
        raise GroundworkError("the new %s key is not base64" % provider)
    if len(raw) not in KEY_SIZES[provider]:
        raise GroundworkError("a %s key must be %s bytes; the new key has %d"
                              % (provider, " or ".join(str(s) for s in KEY_SIZES[provider]), len(raw)))


def new_secret(random=os.urandom):
    """A fresh 32-byte key, base64 (32 bytes suit every keyed provider)."""
    return base64.b64encode(random(32)).decode("ascii")


def _with_keys(config, summary, keys):
    out = copy.deepcopy(config)
    prov = out["resources"][summary["resource_index"]]["providers"][summary["provider_index"]]
    prov[summary["provider"]]["keys"] = keys
    return out


def level(names, old, new):
    """0 [old], 1 [old, new], 2 [new, old], 3 [new]; None for anything else."""
    table = {(old,): 0, (old, new): 1, (new, old): 2, (new,): 3}
    return table.get(tuple(names))


def apply_step(config, step, old, new, secret=None, through=False):
    """The configuration after ``step`` (add, promote, remove), and the key names before and after.

    Each step is idempotent: a configuration already at or past it is returned unchanged. A
    configuration not yet at the step before is refused (the previous step must be done on every
    control plane first), unless ``through`` (check mode: show what the run would do from here).
    """
    if step not in STEPS:
        raise GroundworkError("unknown step %r (one of %s)" % (step, ", ".join(STEPS)))
    s = summarize(config)
    names = s["names"]
    lv = level(names, old, new)
    if lv is None:
        raise GroundworkError("keys %s found, expected the keys of the rotation from %s to %s (%s)"
                              % (", ".join(names), old, new, "; ".join("%s: %s" % (i, d) for i, d in enumerate(LEVELS))))
    target = STEPS.index(step) + 1
    if lv >= target:
        return config, names, names
    if lv < target - 1 and not through:
        raise GroundworkError("keys %s: step %s needs step %s done first (keys %s)"
                              % (", ".join(names), step, STEPS[target - 2], ", ".join({1: [old, new], 2: [new, old]}[target - 1])))
    if new in s["secrets"]:
        secret = s["secrets"][new]
    else:
        if not secret:
            raise GroundworkError("the new key %s is on no control plane yet and no key material was given" % new)
        check_secret(secret, s["provider"])
    keys = {1: [old, new], 2: [new, old], 3: [new]}[target]
    material = dict(s["secrets"], **{new: secret})
    out = _with_keys(config, s, [{"name": n, "secret": material[n]} for n in keys])
    return out, names, keys


# --------------------------------------------------------------------------- the control planes together
def plan(infos, hosts, requested):
    """What the rotation still has to do, from what each control plane holds.

    ``infos``: host -> the ``info`` result of module encryption_key (``provider``, ``keys`` (names),
    ``secrets`` (name -> key), ``record``, ``error``). Returns ``errors`` (refusals, by key name),
    ``old``, ``new``, ``provider``, ``done``, ``start`` (no control plane holds the new key yet: write
    the record first), ``rewrite`` (Secrets still to be rewritten), ``levels`` (host -> 0..3), ``hosts``
    (host -> key names) and ``lines`` (what to print). Never key material.
    """
    errors = []
    out = {"errors": errors, "old": "", "new": "", "provider": "", "done": False, "start": False, "rewrite": False,
           "levels": {}, "hosts": {}, "lines": []}
    if not hosts:
        errors.append("no control planes in group kube_control_plane")
        return out
    for h in hosts:
        info = infos.get(h) or {}
        if info.get("error") or not info.get("keys"):
            errors.append("%s: %s" % (h, info.get("error") or "no encryption configuration read"))
        else:
            out["hosts"][h] = list(info["keys"])
    if errors:
        return out
    providers = {h: infos[h]["provider"] for h in hosts}
    if len(set(providers.values())) > 1:
        errors.append("the control planes use different providers for Secrets: %s"
                      % ", ".join("%s %s" % (h, providers[h]) for h in hosts))
    out["provider"] = providers[hosts[0]]
    material, where = {}, {}
    for h in hosts:
        for name, secret in (infos[h].get("secrets") or {}).items():
            if name in material and material[name] != secret:
                errors.append("key %s has different key material on %s and %s (names are the same, the keys are not)"
                              % (name, where[name], h))
            material.setdefault(name, secret)
            where.setdefault(name, h)
    for h in hosts:
        if len(out["hosts"][h]) > 2:
            errors.append("%s has %d keys (%s): a rotation works from one key; remove the extra keys by hand "
                          "once no Secret uses them" % (h, len(out["hosts"][h]), ", ".join(out["hosts"][h])))
    if errors:
        return out
    names = sorted({n for ks in out["hosts"].values() for n in ks})
    records = [infos[h].get("record") or {} for h in hosts]
    rotating = [r for r in records if r.get("state") == "rotating" and r.get("old") and r.get("new")]
    state_lines = ["%s: %s %s" % (h, out["provider"], ", ".join(out["hosts"][h])) for h in hosts]
    if len(names) == 1:
        current = names[0]
        out["old"] = current
        closing = [r for r in rotating if r.get("new") == current]
        if closing:
            # every control plane holds only the new key: only the record is left to close
            out.update(old=closing[0]["old"], new=current, done=False, levels={h: 3 for h in hosts})
            out["lines"] = state_lines + ["the rotation to %s is finished on every control plane; its record is closed" % current]
            return out
        try:
            check_key_name(requested)
        except GroundworkError as exc:
            errors.append(exc.msg)
            return out
        if requested == current:
            out.update(new=current, done=True, levels={h: 3 for h in hosts})
            out["lines"] = state_lines + ["%s is already the only key on every control plane: nothing to rotate "
                                          "(-e rotate_encryption_key_name=<another name> rotates again)" % current]
            return out
        out.update(new=requested, start=True, rewrite=True, levels={h: 0 for h in hosts})
        out["lines"] = state_lines + ["rotation from %s to %s: add %s as the second key, restart the API servers one at a "
                                      "time, make it the first key, restart, rewrite every Secret, remove %s, restart"
                                      % (current, requested, requested, current)]
        return out
    pairs = {(r["old"], r["new"]) for r in rotating}
    fitting = [p for p in pairs if set(p) == set(names)]
    if len(fitting) != 1:
        errors.append("the control planes hold keys %s and %s, and no rotation record on them says which one is new "
                      "(%s): finish that rotation by hand (make one key first everywhere, rewrite the Secrets, remove "
                      "the other) or restore the record" % (names[0], names[1], "; ".join(state_lines)))
        return out
    old, new = fitting[0]
    out.update(old=old, new=new)
    levels = {h: level(out["hosts"][h], old, new) for h in hosts}
    bad = [h for h in hosts if levels[h] is None]
    if bad:
        errors.append("unexpected keys for the rotation from %s to %s: %s" % (old, new, "; ".join(state_lines)))
        return out
    span = sorted(set(levels.values()))
    if span[-1] - span[0] > 1:
        errors.append("the control planes are more than one step apart in the rotation from %s to %s (%s): "
                      "a step was skipped somewhere; make every control plane hold the same keys by hand first"
                      % (old, new, "; ".join(state_lines)))
        return out
    out["levels"] = levels
    out["rewrite"] = span[-1] <= 2  # a control plane with only the new key: the rewrite was done before it
    if requested and requested != new:
        state_lines.append("%s was asked for, but the rotation to %s in progress is finished first (run again afterwards)"
                           % (requested, new))
    out["lines"] = state_lines + ["rotation from %s to %s in progress (%s): resuming"
                                  % (old, new, ", ".join("%s %s" % (h, LEVELS[levels[h]]) for h in hosts))]
    return out


def chosen_secret(infos, hosts, new, random=os.urandom):
    """The new key's material: the one a control plane already holds (a resumed run), else a fresh one."""
    for h in hosts:
        secret = ((infos.get(h) or {}).get("secrets") or {}).get(new)
        if secret:
            return secret
    return new_secret(random)


# --------------------------------------------------------------------------- rewriting the Secrets
REPLACED_RE = re.compile(r"^secret/(\S+) replaced$")
ERROR_RE = re.compile(r'^Error from server \((\w+)\).*?secrets? "([^"]+)"')


def secret_batches(listing, batch=200):
    """kubectl List documents of at most ``batch`` Secrets each, namespace by namespace, and the total."""
    items = (listing or {}).get("items") or []
    by_ns = {}
    for it in items:
        by_ns.setdefault(it.get("metadata", {}).get("namespace", ""), []).append(it)
    out = []
    for ns in sorted(by_ns):
        group = by_ns[ns]
        for i in range(0, len(group), batch):
            out.append((ns, {"apiVersion": "v1", "kind": "List", "items": group[i:i + batch]}))
    return out, len(items)


def classify_replace(ns, stdout, stderr):
    """Outcome of one ``kubectl replace -f -``: replaced, conflict (written since it was read: already with
    the new key), gone (deleted since) and failed (anything else, with the first lines of the error)."""
    res = {"replaced": 0, "conflict": 0, "gone": 0, "failed": 0, "errors": []}
    for line in (stdout or "").splitlines():
        if REPLACED_RE.match(line.strip()):
            res["replaced"] += 1
    for line in (stderr or "").splitlines():
        line = line.strip()
        if not line:
            continue
        m = ERROR_RE.match(line)
        if m and m.group(1) == "Conflict":
            res["conflict"] += 1
        elif m and m.group(1) == "NotFound":
            res["gone"] += 1
        else:
            res["failed"] += 1
            if len(res["errors"]) < 5:
                res["errors"].append("%s: %s" % (ns, line[:300]))
    return res


def process_start(stat_line, btime, hz):
    """Start time (epoch seconds) of a process from its /proc/PID/stat line, /proc/stat's btime and CLK_TCK."""
    fields = stat_line.rpartition(")")[2].split()
    # fields[0] is field 3 (state): starttime is field 22
    return btime + int(fields[19]) / float(hz)


def restart_needed(config_mtime, started):
    """The API server runs with an older configuration than the file (or does not run)."""
    return started is None or config_mtime > started


def describe(names, provider):
    return "%s keys: %s\n" % (provider, ", ".join(names))


def record(old, new, state, now):
    return json.dumps({"old": old, "new": new, "state": state, "updated": now}, sort_keys=True) + "\n"
