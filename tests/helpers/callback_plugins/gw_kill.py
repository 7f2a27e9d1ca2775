# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper (not shipped): SIGKILL ansible-playbook at a task boundary, as a crashed controller would die.

Enabled by the fault scenario (tests/scenarios/70-real/parts/fault.sh) with
  ANSIBLE_CALLBACK_PLUGINS=tests/helpers/callback_plugins ANSIBLE_CALLBACKS_ENABLED=gw_kill
and these variables:
  GW_KILL_HOST   the node whose critical section is cut (only task starts on this host count)
  GW_KILL_PLAY   a regular expression: only task starts in plays whose name matches count
  GW_KILL_AT     N >= 1: kill at the Nth counted task start, i.e. after the node finished N-1 tasks of the
                 section and before the Nth begins; 0 (or unset): kill nothing, only record
  GW_KILL_TASK   a regular expression (optional): kill at the first counted task start (from the GW_KILL_AT-th on)
                 whose task name matches it, e.g. "Wait until they stopped": the node's static pods are down
  GW_KILL_LOG    a file: one line per counted task start ("N<TAB>play<TAB>task"), then "KILLED N" when killing
The kill takes ansible-playbook and every process under it (workers, ssh) with SIGKILL, nothing else: no
handler, no cleanup, no final state written — a Ctrl-C twice, a lost laptop or a cancelled AWX job.
"""
from __future__ import annotations

import os
import re
import signal

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: gw_kill
type: aggregate
short_description: Test helper that SIGKILLs ansible-playbook at the Nth task start of one host
description: See the module docstring (tests only, not part of the collection).
"""


def _descendants(root):
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(pid))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "gw_kill"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.host = os.environ.get("GW_KILL_HOST", "")
        self.play_re = re.compile(os.environ.get("GW_KILL_PLAY", "."))
        self.at = int(os.environ.get("GW_KILL_AT", "0") or 0)
        self.log = os.environ.get("GW_KILL_LOG", "")
        task_re = os.environ.get("GW_KILL_TASK", "")
        self.task_re = re.compile(task_re) if task_re else None
        if self.task_re is not None and not self.at:
            self.at = 1
        self.play = ""
        self.count = 0
        self.done = False

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name()

    def _note(self, line):
        if self.log:
            with open(self.log, "a") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())

    def v2_runner_on_start(self, host, task):
        if host.get_name() != self.host or not self.play_re.search(self.play):
            return
        self.count += 1
        self._note("%d\t%s\t%s" % (self.count, self.play, task.get_name()))
        if self.task_re is not None:
            kill = self.count >= self.at and bool(self.task_re.search(task.get_name()))
        else:
            kill = bool(self.at) and self.count == self.at
        if kill and not self.done:
            self.done = True
            self._note("KILLED %d" % self.count)
            me = os.getpid()
            for pid in _descendants(me):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            os.kill(me, signal.SIGKILL)
