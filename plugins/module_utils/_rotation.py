# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Certificate rotation decisions without I/O: renewal plans, CA rotation phases, bundles.

Everything here takes plain data (dicts, PEM text, datetimes) and returns plain data, so the
modules, the playbooks' checks and the unit tests share one set of rules.

CA rotation runs in three phases; each node keeps its own state document on the node
(``/etc/kubernetes/pki/.rotation/state.json``), never on the controller:

====  ==========  =======================================  ==========================
 #    state       CA bundle (``ca.crt`` etc.)               signing key (``ca.key``)
====  ==========  =======================================  ==========================
 0    none        old                                      old
 1    trusted     old + new (old first)                    old
 2    reissued    new + old (new first); leaves from new   new
 3    retired     new                                      new
====  ==========  =======================================  ==========================

The first certificate of a bundle must be the one that matches the key next to it:
controller-manager loads ``--cluster-signing-cert-file``/``--cluster-signing-key-file`` as a
pair, and kubeadm reads the first certificate of ``ca.crt`` as "the" CA. The service-account
pair works the same way: ``sa.pub`` holds every public key the apiserver must accept
(``--service-account-key-file`` reads all keys in the file), ``sa.key`` signs.

A node moves one phase at a time, and a phase starts on a node only when every node of the
cluster has finished the phase before it (:func:`check_cluster_transition`): no apiserver may
sign with a key the others do not trust yet, no trust may be withdrawn while some leaf still
needs it.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import re

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

STATE_VERSION = 1
PHASES = ("none", "trusted", "reissued", "retired")
PHASE_NUMBER = {name: i for i, name in enumerate(PHASES)}
PHASE_ALIASES = {"0": "none", "1": "trusted", "2": "reissued", "3": "retired"}

# kubeadm paths, relative to the PKI dir: CA name -> (certificate, key)
CA_FILES = {
    "ca": ("ca.crt", "ca.key"),
    "front-proxy-ca": ("front-proxy-ca.crt", "front-proxy-ca.key"),
    "etcd-ca": ("etcd/ca.crt", "etcd/ca.key"),
}
SA_FILES = ("sa.key", "sa.pub")
# The cluster CA's signing certificate alone, beside ``ca.key``: controller-manager's
# ``--cluster-signing-cert-file`` must hold exactly one certificate (v1.33: "expected 1 certificate,
# found 2"), while ``ca.crt`` is a bundle in phases 1 and 2 (and a chain with an intermediate CA).
# Always the first certificate of ``ca.crt``, the one matching ``ca.key`` (written by cluster_pki at
# install, by each phase here on a node that holds ``ca.key``).
SIGNER_FILE = "ca-signer.crt"
ROTATABLE = tuple(CA_FILES) + ("sa",)

# Rotated by the kubelet itself (rotateCertificates / serverTLSBootstrap): never renewed here.
KUBELET_MANAGED = ("/var/lib/kubelet/pki/",)

# Which component must restart (or re-read) when a file changes. Keys are path suffixes.
RESTARTS = (
    ("etcd/ca.crt", ("etcd", "kube-apiserver")),
    ("etcd/server.crt", ("etcd",)),
    ("etcd/peer.crt", ("etcd",)),
    ("etcd/healthcheck-client.crt", ()),
    ("apiserver-etcd-client.crt", ("kube-apiserver",)),
    ("apiserver-kubelet-client.crt", ("kube-apiserver",)),
    ("apiserver.crt", ("kube-apiserver",)),
    ("front-proxy-client.crt", ("kube-apiserver",)),
    ("front-proxy-ca.crt", ("kube-apiserver", "kube-controller-manager")),
    ("ca-signer.crt", ("kube-controller-manager",)),
    ("ca.crt", ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")),
    ("sa.pub", ("kube-apiserver",)),
    ("sa.key", ("kube-apiserver", "kube-controller-manager")),
    ("controller-manager.conf", ("kube-controller-manager",)),
    ("scheduler.conf", ("kube-scheduler",)),
    ("kubelet.conf", ("kubelet",)),
    ("kubelet-client-current.pem", ("kubelet",)),
    ("admin.conf", ()),
    ("super-admin.conf", ()),
)
COMPONENT_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")

PEM_RE = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\s*(?P<body>.*?)\s*-----END (?P=label)-----", re.S)


# --------------------------------------------------------------------------- time
def parse_time(value):
    """ISO-8601 text ('...Z' or with offset), epoch seconds or datetime -> aware UTC datetime."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise GroundworkError("cannot parse time %r: use ISO-8601 (2026-01-02T03:04:05Z) or epoch seconds" % value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(value):
    return parse_time(value).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- renewal plan
def _is_kubelet_managed(path):
    return any(path.startswith(prefix) for prefix in KUBELET_MANAGED)


def plan_renewal(certs, threshold_days=30, renew_all=False, now=None, include_kubelet=False):
    """Decide which leaves to renew.

    ``certs``: rows like pki_info's ``certificates`` — ``path``, ``not_after`` and optionally
    ``is_ca``, ``subject``, ``issuer``, ``host``. Returns ``{'renew': [...], 'keep': [...],
    'skip': [...]}``; each row is the input row plus ``seconds_left``, ``days_left`` and ``reason``,
    sorted by expiry (soonest first). CAs are never renewed here (CA rotation does that);
    kubelet-managed files are skipped unless ``include_kubelet``.
    """
    if threshold_days is None or threshold_days < 0:
        raise GroundworkError("threshold_days must be 0 or more, got %r" % (threshold_days,))
    now = parse_time(now) if now is not None else utcnow()
    limit = now + datetime.timedelta(days=threshold_days)
    plan = {"renew": [], "keep": [], "skip": []}
    for row in certs:
        if "path" not in row or "not_after" not in row:
            raise GroundworkError("certificate row needs 'path' and 'not_after': %r" % (row,))
        not_after = parse_time(row["not_after"])
        seconds = int((not_after - now).total_seconds())
        out = dict(row, not_after=iso(not_after), seconds_left=seconds, days_left=seconds // 86400)
        if row.get("is_ca"):
            out["reason"] = "CA: rotate with rotate_ca.yml"
            plan["skip"].append(out)
        elif _is_kubelet_managed(row["path"]) and not include_kubelet:
            out["reason"] = "rotated by the kubelet (rotateCertificates)"
            plan["skip"].append(out)
        elif not_after <= now:
            out["reason"] = "expired"
            plan["renew"].append(out)
        elif renew_all:
            out["reason"] = "all requested"
            plan["renew"].append(out)
        elif not_after <= limit:
            out["reason"] = "expires within %d days" % threshold_days
            plan["renew"].append(out)
        else:
            out["reason"] = "valid beyond %d days" % threshold_days
            plan["keep"].append(out)
    for rows in plan.values():
        rows.sort(key=lambda r: (r["seconds_left"], r.get("host", ""), r["path"]))
    return plan


def restarts_for(paths):
    """Components to restart after ``paths`` changed, in restart order (etcd first)."""
    wanted = set()
    for path in paths:
        for suffix, components in RESTARTS:
            if path == suffix or path.endswith("/" + suffix):
                wanted.update(components)
                break
    return [c for c in COMPONENT_ORDER if c in wanted]


def format_report(rows, columns=("host", "path", "not_after", "days_left", "reason")):
    """A fixed-width text table (for the playbook's debug output)."""
    table = [list(columns)] + [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in table]


# --------------------------------------------------------------------------- PEM bundles
def pem_blocks(text, label=None):
    """The PEM blocks of ``text`` as normalised strings (one per block), optionally of one label."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    blocks = []
    for m in PEM_RE.finditer(text or ""):
        if label and m.group("label") != label:
            continue
        body = "".join(m.group("body").split())
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        blocks.append("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (m.group("label"), "\n".join(lines), m.group("label")))
    return blocks


def block_fingerprint(block):
    """sha256 (hex) of a PEM block's DER: equal for equal certificates or keys, however wrapped."""
    m = PEM_RE.search(block)
    if not m:
        raise GroundworkError("not a PEM block: %r" % block[:80])
    der = base64.b64decode("".join(m.group("body").split()))
    return hashlib.sha256(der).hexdigest()


def bundle(*groups):
    """Concatenate PEM blocks from ``groups`` (each PEM text or list of blocks) in order, dropping duplicates."""
    seen, out = set(), []
    for group in groups:
        blocks = pem_blocks(group) if isinstance(group, (str, bytes)) else list(group)
        for block in blocks:
            fp = block_fingerprint(block)
            if fp not in seen:
                seen.add(fp)
                out.append(block)
    return "".join(out)


def desired_trust(phase, old, new):
    """The bundle a trust file (``ca.crt``, ``sa.pub``, kubeconfig CA data) holds in ``phase``.

    ``old`` is what the file held before the rotation started (all its blocks are kept until
    retirement, so an intermediate chain or an earlier bundle stays trusted); ``new`` the new
    CA certificate (or public key).
    """
    phase = normalise_phase(phase)
    if phase == "none":
        return bundle(old)
    if phase == "trusted":
        return bundle(old, new)
    if phase == "reissued":
        return bundle(new, old)
    return bundle(new)


def signing_cert_flag(manifest_text):
    """The ``--cluster-signing-cert-file`` of a kube-controller-manager static pod manifest, or None."""
    m = re.search(r"--cluster-signing-cert-file=(\S+)", manifest_text or "")
    return m.group(1).strip("'\"") if m else None


def signer_blocker(manifest_text, ca_crt_path):
    """Why phase 1 must not start on a control plane whose controller-manager signs with ``ca.crt``, or None.

    Phase 1 makes ``ca.crt`` two certificates; a controller-manager that loads it as its signing
    certificate exits (v1.33: "expected 1 certificate, found 2") until phase 3: no CSR signed (no join),
    no controller running. The signing pair must be ``ca-signer.crt`` + ``ca.key`` first.
    """
    flag = signing_cert_flag(manifest_text)
    if flag is None or os.path.normpath(flag) != os.path.normpath(ca_crt_path):
        return None
    return ("kube-controller-manager signs with %s, which phase 1 turns into two certificates (controller-manager "
            "then exits until phase 3: no CSR signed, no node can join, no controller runs). Fix: run site.yml first "
            "(its day-2 convergence moves the signing pair to %s + ca.key on every control plane), then start the "
            "rotation" % (flag, os.path.join(os.path.dirname(ca_crt_path), SIGNER_FILE)))


def signer_in(phase):
    """'old' or 'new': which key signs in ``phase``."""
    return "new" if PHASE_NUMBER[normalise_phase(phase)] >= PHASE_NUMBER["reissued"] else "old"


# --------------------------------------------------------------------------- state machine
def normalise_phase(phase):
    text = str(phase).strip().lower()
    text = PHASE_ALIASES.get(text, text)
    if text not in PHASE_NUMBER:
        raise GroundworkError("unknown CA rotation phase %r: use one of %s (or 0-3)" % (phase, ", ".join(PHASES)))
    return text


def new_state(rotation_id, cas, now=None):
    """The state document of a node that has not started rotation ``rotation_id``."""
    if not rotation_id or not re.match(r"^[A-Za-z0-9._-]{1,64}$", str(rotation_id)):
        raise GroundworkError("rotation_id must be 1-64 letters, digits, '.', '_' or '-', got %r" % (rotation_id,))
    unknown = sorted(set(cas) - set(ROTATABLE))
    if unknown or not cas:
        raise GroundworkError("cas must be a non-empty list of %s; unknown: %s" % (", ".join(ROTATABLE), ", ".join(unknown)))
    return {"version": STATE_VERSION, "rotation_id": str(rotation_id), "phase": "none",
            "cas": sorted(set(cas)), "fingerprints": {}, "in_progress": None,
            "done": [], "history": [], "started": iso(now or utcnow())}


def check_state(doc):
    """Validate a state document read from a node; return it."""
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise GroundworkError("unsupported rotation state document (version %r): expected %d"
                              % (doc.get("version") if isinstance(doc, dict) else None, STATE_VERSION))
    for key in ("rotation_id", "phase", "cas", "done"):
        if key not in doc:
            raise GroundworkError("rotation state document lacks %r" % key)
    normalise_phase(doc["phase"])
    return doc


def transition(doc, target, rotation_id, cas, now=None):
    """Plan one node's move towards ``target``.

    Returns ``(action, doc)`` where action is ``'noop'`` (already at or past target),
    ``'start'``/``'resume'`` (do the phase ``target``), and ``doc`` the state to continue from.
    A finished rotation with another id starts afresh; an unfinished one with another id is
    refused (finish or retire it first). Skipping a phase is refused.
    """
    target = normalise_phase(target)
    if target == "none":
        raise GroundworkError("target phase 'none' is not a phase to run: use trusted, reissued or retired")
    if doc is None or (doc["rotation_id"] != str(rotation_id) and doc["phase"] == "retired"):
        doc = new_state(rotation_id, cas, now)
    check_state(doc)
    if doc["rotation_id"] != str(rotation_id):
        raise GroundworkError("rotation %r is unfinished on this node (phase %s); finish it (phase retired) "
                              "before starting rotation %r" % (doc["rotation_id"], doc["phase"], rotation_id))
    if sorted(set(cas)) != doc["cas"]:
        raise GroundworkError("rotation %r rotates %s; cannot change it to %s mid-rotation"
                              % (doc["rotation_id"], ", ".join(doc["cas"]), ", ".join(sorted(set(cas)))))
    have, want = PHASE_NUMBER[doc["phase"]], PHASE_NUMBER[target]
    if want <= have:
        return "noop", doc
    if want > have + 1:
        raise GroundworkError("this node is in phase %s (%d); run phase %s (%d) first, then %s"
                              % (doc["phase"], have, PHASES[have + 1], have + 1, target))
    if doc.get("in_progress") == target:
        return "resume", doc
    return "start", doc


def begin(doc, target, now=None):
    """The document to write before touching anything for ``target`` (marks it in progress)."""
    out = dict(doc, in_progress=normalise_phase(target), done=list(doc.get("done") or []), applied=False,
               restart=[])
    out.setdefault("history", [])
    out["history"] = list(out["history"]) + [{"event": "begin", "phase": out["in_progress"], "at": iso(now or utcnow())}]
    return out


def mark_done(doc, item):
    """Record one finished item (a file path) of the phase in progress: the resume marker."""
    if doc.get("in_progress") is None:
        raise GroundworkError("no phase in progress: call begin() first")
    done = list(doc.get("done") or [])
    if item not in done:
        done.append(item)
    return dict(doc, done=done)


def pending(doc, items):
    """Items of the phase in progress not yet marked done, in the given order."""
    done = set(doc.get("done") or [])
    return [i for i in items if i not in done]


def finish(doc, now=None):
    """The document after the phase in progress completed on this node."""
    phase = doc.get("in_progress")
    if phase is None:
        raise GroundworkError("no phase in progress to finish")
    history = list(doc.get("history") or []) + [{"event": "done", "phase": phase, "at": iso(now or utcnow())}]
    out = dict(doc, phase=phase, in_progress=None, done=[], history=history, applied=False, restart=[])
    out["%s_at" % phase] = iso(now or utcnow())
    return out


# --------------------------------------------------------------------------- committed only when proven
# A node's step (a CA rotation phase, a renewal) is recorded done only after its restart and health gate
# passed. Until then the state on the node says what was applied and which restarts are owed, written
# *before* the files that need them: a run killed anywhere (Ctrl-C, a cancelled AWX job) leaves a state
# from which re-running the step restarts what must restart and gates again, so a resume always converges.
STEPS = ("all", "apply", "commit")


def restarts_for_files(paths):
    """:func:`restarts_for`, with a key file counted as its certificate (``sa.key`` is its own entry)."""
    return restarts_for([p if p.endswith("sa.key") else re.sub(r"\.key$", ".crt", p) for p in paths or []])


def merge_restarts(*groups):
    """Union of component lists, in restart order; an unknown component is an error."""
    wanted = set()
    for group in groups:
        wanted.update(group or [])
    unknown = sorted(wanted - set(COMPONENT_ORDER))
    if unknown:
        raise GroundworkError("unknown component(s) %s: expected %s" % (", ".join(unknown), ", ".join(COMPONENT_ORDER)))
    return [c for c in COMPONENT_ORDER if c in wanted]


def owed_restarts(doc):
    """Restarts a node still owes for its step in progress (state document or renewal record).

    A document from before this field existed that has a phase in progress owes every component:
    nobody knows what the interrupted run wrote, and one restart too many is harmless.
    """
    if not doc:
        return []
    if "restart" in doc:
        return merge_restarts(doc.get("restart"))
    return list(COMPONENT_ORDER) if doc.get("in_progress") else []


def owe_restarts(doc, paths):
    """``doc`` with the restarts that ``paths`` (about to be written) need added to those owed.

    Returns ``doc`` itself when nothing new is owed (the caller writes the state only when it changed).
    """
    owed = merge_restarts(owed_restarts(doc), restarts_for_files(paths))
    return doc if owed == doc.get("restart") else dict(doc, restart=owed)


def mark_applied(doc, restart=()):
    """Every file of the phase in progress is written; ``restart`` (and what was owed) and the gate remain."""
    if doc.get("in_progress") is None:
        raise GroundworkError("no phase in progress: call begin() first")
    return dict(doc, applied=True, restart=merge_restarts(owed_restarts(doc), restart))


def commit_action(doc, target, rotation_id):
    """``'noop'`` (already recorded) or ``'commit'`` (applied, restarted, gated: record it done); raises otherwise."""
    target = normalise_phase(target)
    if doc is None:
        raise GroundworkError("no CA rotation state on this node: run phase %s first" % target)
    check_state(doc)
    if doc["rotation_id"] != str(rotation_id):
        raise GroundworkError("this node is in rotation %r, not %r" % (doc["rotation_id"], rotation_id))
    if PHASE_NUMBER[doc["phase"]] >= PHASE_NUMBER[target]:
        return "noop"
    if doc.get("in_progress") != target or not doc.get("applied"):
        raise GroundworkError("phase %s is not applied on this node yet (phase %s, in progress %s): run the phase "
                              "(step apply), restart what it returns and pass the health gate first"
                              % (target, doc["phase"], doc.get("in_progress") or "nothing"))
    return "commit"


def renewal_record(record, restart, backup_dir=None, now=None):
    """The renewal record to write on the node *before* renewed files are written.

    ``record``: the one already there (an earlier run that did not pass its gate) or None. Owed restarts
    and backup dirs accumulate until :func:`commit` time (the record is deleted then).
    """
    record = dict(record or {})
    dirs = list(record.get("backup_dirs") or [])
    if backup_dir and backup_dir not in dirs:
        dirs.append(backup_dir)
    return {"version": STATE_VERSION, "started": record.get("started") or iso(now or utcnow()),
            "restart": merge_restarts(record.get("restart"), restart), "backup_dirs": dirs}


def static_pod_restart_plan(restart, running, paused, pods):
    """How to restart static pods by moving manifests, including what an interrupted run left paused.

    ``restart``: components owed a restart; ``running``/``paused``: names (without ``.yaml``) of the manifests
    in staticPodPath / in the paused dir; ``pods``: the static pods whose port tells when they stopped.
    Returns ``move_out`` (manifests to pause now), ``interrupted`` (left paused by an earlier run: moved back
    too), ``wait`` (pods whose port must close before moving back), ``move_back`` and ``conflicts`` (a
    manifest in both dirs: which one is right is not knowable here, nothing may be moved).
    """
    running, paused, pods = set(running or ()), set(paused or ()), list(pods or ())
    conflicts = sorted(running & paused)
    move_out = [c for c in COMPONENT_ORDER if c in (restart or ()) and c in running and c in pods and c not in paused]
    interrupted = sorted(paused - running)
    order = list(COMPONENT_ORDER) + sorted(set(pods) - set(COMPONENT_ORDER))
    wait = [c for c in order if c in pods and (c in move_out or c in interrupted)]
    return {"move_out": move_out, "interrupted": interrupted, "wait": wait,
            "move_back": sorted(set(move_out) | set(interrupted)), "conflicts": conflicts}


def retire_blockers(doc, now=None, min_age_seconds=0):
    """Reasons the old CA/SA key may not be retired on this node yet (empty list = go)."""
    reasons = []
    if doc.get("phase") != "reissued":
        reasons.append("node is in phase %s, not reissued" % doc.get("phase"))
    elif min_age_seconds and "sa" in doc.get("cas", ()):
        since = parse_time(doc.get("reissued_at") or utcnow())
        age = ((now and parse_time(now)) or utcnow()) - since
        if age.total_seconds() < min_age_seconds:
            reasons.append("service-account key switched %ds ago; tokens signed with the old key may still be "
                           "in use until %ds have passed (rotate_ca_sa_grace_seconds)"
                           % (int(age.total_seconds()), min_age_seconds))
    return reasons


# --------------------------------------------------------------------------- cluster view
def cluster_summary(states):
    """``states``: host -> state document (or None). Returns per-phase host lists and the ids."""
    summary = {p: [] for p in PHASES}
    summary["in_progress"] = {}
    ids, fps = set(), {}
    for host in sorted(states):
        doc = states[host]
        if doc is None:
            summary["none"].append(host)
            continue
        check_state(doc)
        summary[doc["phase"]].append(host)
        if doc.get("in_progress"):
            summary["in_progress"][host] = {"phase": doc["in_progress"], "done": len(doc.get("done") or [])}
        ids.add(doc["rotation_id"])
        for name, fp in (doc.get("fingerprints") or {}).items():
            fps.setdefault(name, set()).add(fp)
    summary["rotation_ids"] = sorted(ids)
    summary["conflicting_fingerprints"] = sorted(name for name, values in fps.items() if len(values) > 1)
    return summary


def check_cluster_transition(states, target, rotation_id):
    """Refuse ``target`` unless every node has finished the phase before it (and agrees on the rotation).

    Returns the hosts that still have to run ``target`` (in name order); raises GroundworkError.
    """
    target = normalise_phase(target)
    need = PHASE_NUMBER[target] - 1
    problems, todo = [], []
    for host in sorted(states):
        doc = states[host]
        if doc is not None and doc["rotation_id"] != str(rotation_id):
            if doc["phase"] != "retired":
                problems.append("%s: unfinished rotation %r in phase %s" % (host, doc["rotation_id"], doc["phase"]))
                continue
            doc = None
        have = PHASE_NUMBER[doc["phase"]] if doc else 0
        if have < need:
            problems.append("%s: phase %s, needs %s first" % (host, PHASES[have], PHASES[need]))
        elif have == need:
            todo.append(host)
    fps = cluster_summary({h: d for h, d in states.items() if d and d["rotation_id"] == str(rotation_id)})
    if fps["conflicting_fingerprints"]:
        problems.append("nodes disagree on the new %s: re-stage the same new CA on every node"
                        % ", ".join(fps["conflicting_fingerprints"]))
    if problems:
        raise GroundworkError("cannot run phase %s of rotation %s: %s" % (target, rotation_id, "; ".join(problems)),
                              problems=problems)
    return todo


def joined_after(states, rotation_id):
    """``states`` with the nodes that joined after rotation ``rotation_id`` finished counted as retired in it.

    When every node that has state of ``rotation_id`` is retired (the rotation is finished), a node without any
    state joined after it (its CA came from cluster-info, the new CA alone) or never took part and holds the
    current CA: it has nothing to do in that rotation, and counting it in phase none would refuse every later
    run of a phase of it ("phase none, needs trusted first"). A new rotation (another id) is not affected:
    there every node without its state is in phase none. Returns a new dict; the input is not changed.
    """
    rid = str(rotation_id)
    mine = [d for d in states.values() if d and d.get("rotation_id") == rid]
    if not mine or any(d.get("phase") != "retired" for d in mine):
        return dict(states)
    template = mine[0]
    return {h: (d if d else dict(template, history=[], done=[], in_progress=None, restart=[], applied=False))
            for h, d in states.items()}


def phases_to_run(requested, states, rotation_id):
    """``rotate_ca_phase`` (1, 2, 3, all or a name) -> the phase names to run, in order, skipping finished ones."""
    text = str(requested).strip().lower()
    wanted = list(PHASES[1:]) if text == "all" else [normalise_phase(text)]
    lowest = min((PHASE_NUMBER[d["phase"]] if d and d["rotation_id"] == str(rotation_id) else 0)
                 for d in states.values()) if states else 0
    return [p for p in wanted if PHASE_NUMBER[p] > lowest or text != "all"]
