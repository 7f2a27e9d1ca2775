#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: file_set
short_description: Converge a set of configuration files and directories on a host in one call
version_added: 0.1.0
description:
  - Compares every listed directory and file with the host (content, mode, owner, group) and writes only what
    differs. One module run replaces a M(ansible.builtin.template) or M(ansible.builtin.copy) task per file, each
    of which runs two modules on the host (a checksum, then the copy) even when nothing changed.
  - Directories are made first, then files, in the given order. A file is written through a temporary file in its
    directory and an atomic move; with O(files[].validate) the new content is checked first and a refused file is
    left as it was (the error names the command's output).
  - Render the content on the controller (C(lookup('ansible.builtin.template', ...)) or an expression);
    RV(changed_paths) says which entries changed, so a task after it can notify only the handler that path needs.
  - Every entry is checked before anything is written; a bad entry (mode that is not octal, unknown owner, a path
    that is a directory where a file is wanted) fails the task with nothing changed.
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
      - Content before and after per file; a file marked O(files[].secret) shows only that it changes.
  idempotent:
    support: full
options:
  files:
    description: The files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Where the file goes.
        type: path
        required: true
      content:
        description: The whole content.
        type: str
        required: true
      mode:
        description: Octal mode, quoted (V("0644")). Unset keeps an existing file's mode and gives a new one 0644.
        type: raw
      owner:
        description: User name or uid.
        type: str
      group:
        description: Group name or gid.
        type: str
      validate:
        description: Command that checks the new content before it is moved in; C(%s) is the temporary file.
        type: str
      secret:
        description:
          - The content is key material - never shown in a diff; the validation copy is 0600.
          - Set C(no_log) on the task too - Ansible shows a module's arguments (this content) at C(-v).
        type: bool
        default: false
  directories:
    description: The directories (made with their parents).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      mode:
        description: Octal mode, quoted.
        type: raw
      owner:
        description: User name or uid.
        type: str
      group:
        description: Group name or gid.
        type: str
"""

EXAMPLES = r"""
- name: The containerd files
  groundwork.k8s.file_set:
    directories:
      - {path: /etc/containerd, mode: "0755", owner: root, group: root}
    files:
      - path: /etc/containerd/config.toml
        content: "{{ lookup('ansible.builtin.template', 'config.toml.j2') }}"
        mode: "0644"
      - path: /etc/crictl.yaml
        content: "{{ crictl_config | to_nice_yaml }}"
        mode: "0644"
  register: containerd_files

- name: Restart containerd when its configuration changed
  ansible.builtin.debug:
    msg: "{{ containerd_files.changed_paths }}"
  changed_when: "'/etc/containerd/config.toml' in containerd_files.changed_paths"
  notify: Restart containerd
"""

RETURN = r"""
changed_paths:
  description: The directories and files that were (or in check mode would be) created or changed.
  returned: success
  type: list
  elements: str
  sample: [/etc/containerd/config.toml]
reasons:
  description: Per changed path, what differed (C(missing), C(content), C(mode), C(owner), C(group)).
  returned: success
  type: dict
  sample: {/etc/containerd/config.toml: [content]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils import _fileset

FILE_SPEC = {"path": {"type": "path", "required": True}, "content": {"type": "str", "required": True},
             "mode": {"type": "raw"}, "owner": {"type": "str"}, "group": {"type": "str"},
             "validate": {"type": "str"}, "secret": {"type": "bool", "default": False}}
DIR_SPEC = {"path": {"type": "path", "required": True}, "mode": {"type": "raw"},
            "owner": {"type": "str"}, "group": {"type": "str"}}


def main():
    module = AnsibleModule(argument_spec={"files": {"type": "list", "elements": "dict", "default": [],
                                                    "options": FILE_SPEC},
                                          "directories": {"type": "list", "elements": "dict", "default": [],
                                                          "options": DIR_SPEC}},
                           supports_check_mode=True)
    try:
        actions = _fileset.plan(files=module.params["files"], directories=module.params["directories"])
        result = {"changed": bool(actions), "changed_paths": [a["path"] for a in actions],
                  "reasons": {a["path"]: a["reasons"] for a in actions}}
        if module._diff:
            result["diff"] = _fileset.diff(actions)
        if actions and not module.check_mode:
            _fileset.apply(actions, run_validate=lambda cmd: module.run_command(cmd, use_unsafe_shell=False),
                           atomic_move=module.atomic_move)
    except GroundworkError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
