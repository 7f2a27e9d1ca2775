# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rotation_plan
short_description: Decide which CA rotation phases to run and where, from the state read on every node
version_added: 0.1.0
description:
  - Takes the rotation state documents read from the nodes (host to the content of
    C(/etc/kubernetes/pki/.rotation/state.json), or null when the node has none) and returns the rotation id
    to use, the phases to run and, for each, the nodes still to do.
  - An unfinished rotation found on any node is resumed under its own id; a new rotation uses O(rotation_id).
  - Once a rotation is finished (every node with its state retired), a node without state (it joined later) counts
    as retired in it, so re-running a phase of that rotation does nothing instead of refusing that node.
  - Fails with a message naming the nodes when a phase cannot run yet (a node has not finished the phase
    before it), when two unfinished rotations exist, or when nodes disagree about the new CA.
positional: _input, phase, rotation_id, new_id
options:
  _input:
    description: Host name to state document (dict) or null.
    type: dict
    required: true
  phase:
    description: C(1), C(2), C(3), C(all), or a phase name (V(trusted), V(reissued), V(retired)).
    type: str
    required: true
  rotation_id:
    description:
      - Id of the rotation to run (ignored when an unfinished rotation exists on the nodes, which is resumed).
      - Empty, when every node has finished a rotation, means that one (nothing to do); a new rotation after
        a finished one needs a new id here.
    type: str
    default: ""
  new_id:
    description: Id for a first rotation when O(rotation_id) is empty and no node has any rotation state.
    type: str
    default: ""
author:
  - Groundwork maintainers (@groundwork)
"""

EXAMPLES = r"""
- name: Plan the CA rotation
  ansible.builtin.set_fact:
    plan: "{{ states | groundwork.k8s.rotation_plan(rotate_ca_phase, rotate_ca_id | default(''), 'ca-2026-11') }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    rotation_id:
      description: The rotation to run or resume.
      type: str
    resuming:
      description: Whether an unfinished rotation was found on the nodes.
      type: bool
    phases:
      description: Phase names to run, in order (finished ones left out with C(all)).
      type: list
      elements: str
    first:
      description: The first phase to run and the nodes still to do for it (later phases are checked when they start).
      type: dict
    summary:
      description: Nodes per phase, and the nodes with a phase in progress.
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as R
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def rotation_plan(states, phase, rotation_id="", new_id=""):
    """The CA rotation plan for ``states`` (host -> state document or None)."""
    try:
        states = {h: (d or None) for h, d in (states or {}).items()}
        unfinished = sorted({d["rotation_id"] for d in states.values() if d and d.get("phase") != "retired"})
        if len(unfinished) > 1:
            raise GroundworkError("more than one unfinished rotation on the nodes: %s" % ", ".join(unfinished))
        resuming = bool(unfinished)
        finished = sorted({d["rotation_id"] for d in states.values() if d and d.get("phase") == "retired"})
        if resuming:
            rid = unfinished[0]
        elif rotation_id:
            rid = str(rotation_id)
        elif finished:
            rid = finished[-1]  # a finished rotation is not restarted by accident: a new one needs an id
        else:
            rid = str(new_id or "")
        if not rid:
            raise GroundworkError("no rotation id: give rotation_id or new_id")
        # nodes that joined after a finished rotation count as retired in it (nothing to do there)
        states = R.joined_after(states, rid)
        phases = R.phases_to_run(phase, states, rid)
        first = {}
        if phases:
            first = {"phase": phases[0], "todo": R.check_cluster_transition(states, phases[0], rid)}
        return {"rotation_id": rid, "resuming": resuming, "phases": phases, "first": first,
                "summary": R.cluster_summary({h: d for h, d in states.items() if not d or d["rotation_id"] == rid})}
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg)


class FilterModule(object):
    """CA rotation planning."""

    def filters(self):
        return {"rotation_plan": rotation_plan}
