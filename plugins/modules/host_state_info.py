#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_state_info
short_description: Read the kernel features and swap state a Kubernetes node needs, in one call
version_added: 0.1.0
description:
  - Reports which of the given kernel features are absent (a path that must exist and, optionally, a
    pattern its text must match - C(overlay) in C(/proc/filesystems), C(br_netfilter) as
    C(/proc/sys/net/bridge)) and which swap areas are active (C(/proc/swaps)).
  - One module run replaces a stat and a file read per feature plus a read of C(/proc/swaps) - the
    prerequisites role decides from this what to load and whether to turn swap off.
  - Changes nothing.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
  - groundwork.k8s.attributes.INFO_MODULE
options:
  features:
    description:
      - The kernel features, each with C(name) (the module to load), C(present_path) and optionally
        C(present_pattern) (a Python regular expression, multi-line).
    type: list
    elements: dict
    default: []
  files:
    description:
      - Installed files to compare with what an install task would write, each with C(path) (or C(dest)), C(checksum)
        (V(sha256:HEX) or V(HEX)) and optionally C(mode) (octal string), C(uid), C(gid). A file that is missing,
        has another sha256, mode or owner, or whose checksum is not sha256, is listed in RV(stale_files).
      - One module run replaces a checksum round trip per file (M(ansible.builtin.get_url) with a checksum)
        on a run where nothing changed; the install task then runs only for the stale files.
    type: list
    elements: dict
    default: []
  paths:
    description: Paths whose existence is reported in RV(existing_paths) (for a removal task that then runs only for them).
    type: list
    elements: path
    default: []
  sysctls:
    description:
      - Kernel parameters (key to value) whose live value (C(/proc/sys)) or whose line in O(sysctl_file) differs are
        listed in RV(stale_sysctls) - the ones a M(ansible.posix.sysctl) task would change (booleans count as 1 or 0,
        whitespace runs as one space).
    type: dict
    default: {}
  sysctl_file:
    description: The sysctl.d file the O(sysctls) are kept in (required with O(sysctls)).
    type: path
  fstab:
    description: An fstab whose active swap lines are reported in RV(fstab_swap_lines).
    type: path
  archives:
    description:
      - Archives whose members were installed before, each with C(name), C(sha256) (of the archive), C(stamp) (the
        record the install wrote - JSON with C(archive_sha256) and per member destination its C(sha256))
        and C(members) (C(dest), C(mode)). An archive whose record is missing or is for another archive or set of
        destinations, or any of whose members is missing, not root's, of another mode or of another sha256 than
        recorded, is listed in RV(stale_archives).
      - One module run replaces, per archive on a run where nothing changed, a checksum of the cached archive, an
        unpack check and a copy per member.
    type: list
    elements: dict
    default: []
  read:
    description: Small text files (up to 1 MiB each) whose content is returned in RV(contents) (null when absent).
    type: list
    elements: path
    default: []
  commands:
    description:
      - Read-only commands to run, name to C(argv) (a list) and optionally C(if_exists) (a path that must exist, else
        the command is not run). Each result is in RV(commands); a program that is not installed is rc 127, not a
        failure. Use it only for commands that change nothing (versions, listings).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Read the host's kernel features and swap
  groundwork.k8s.host_state_info:
    features:
      - {name: overlay, present_path: /proc/filesystems, present_pattern: '\soverlay$'}
      - {name: br_netfilter, present_path: /proc/sys/net/bridge}
  register: host_state
"""

RETURN = r"""
absent_features:
  description: Names of the features that are absent, in the given order.
  returned: success
  type: list
  elements: str
  sample: [br_netfilter]
existing_paths:
  description: The O(paths) that exist (a dangling symlink counts).
  returned: success
  type: list
  elements: str
stale_files:
  description: Paths of O(files) that are missing or differ (content, mode or owner).
  returned: success
  type: list
  elements: str
stale_sysctls:
  description: Keys of O(sysctls) whose live value or whose line in O(sysctl_file) differs.
  returned: when O(sysctls) is given
  type: list
  elements: str
  sample: [net.ipv4.ip_forward]
contents:
  description: Path to text of each O(read) file (null when it does not exist).
  returned: when O(read) is given
  type: dict
commands:
  description: Name to C(rc), C(stdout), C(stderr) and C(skipped) (its C(if_exists) path was absent) of each of O(commands).
  returned: when O(commands) is given
  type: dict
stale_archives:
  description: Names of O(archives) whose members are not installed as recorded.
  returned: when O(archives) is given
  type: list
  elements: str
fstab_swap_lines:
  description: The swap lines of O(fstab) that are not commented out.
  returned: when O(fstab) is given
  type: list
  elements: str
swap_areas:
  description: The active swap areas (C(path), C(type)).
  returned: success
  type: list
  elements: dict
  sample: [{path: /swap.img, type: file}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._host_state import host_state


def main():
    module = AnsibleModule(argument_spec={"features": {"type": "list", "elements": "dict", "default": []},
                                          "files": {"type": "list", "elements": "dict", "default": []},
                                          "paths": {"type": "list", "elements": "path", "default": []},
                                          "sysctls": {"type": "dict", "default": {}},
                                          "sysctl_file": {"type": "path"},
                                          "fstab": {"type": "path"},
                                          "archives": {"type": "list", "elements": "dict", "default": []},
                                          "read": {"type": "list", "elements": "path", "default": []},
                                          "commands": {"type": "dict", "default": {}}},
                           supports_check_mode=True)
    try:
        p = module.params
        result = host_state(p["features"], files=p["files"], paths=p["paths"], sysctls=p["sysctls"],
                            sysctl_file=p["sysctl_file"], fstab=p["fstab"], archives=p["archives"],
                            read_paths=p["read"], commands=p["commands"])
    except GroundworkError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
