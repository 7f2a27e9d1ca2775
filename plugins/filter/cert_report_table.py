# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cert_report_table
short_description: Render certificate report rows as a text table
version_added: 0.1.0
description:
  - Fixed-width columns HOST, NAME, DAYS_LEFT, NOT_AFTER, SUBJECT, ISSUER, one certificate per line, in the
    order given (use M(groundwork.k8s.cert_report_rows) to sort), and a closing count line.
positional: _input
options:
  _input:
    description: Rows from M(groundwork.k8s.cert_report_rows).
    type: list
    elements: dict
    required: true
author:
  - Groundwork maintainers (@groundwork)
"""

EXAMPLES = r"""
- name: Print the report
  ansible.builtin.debug:
    msg: "{{ (rows | groundwork.k8s.cert_report_table).splitlines() }}"
"""

RETURN = r"""
_value:
  description: The table, newline-terminated.
  type: str
"""

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki


def cert_report_table(rows):
    """Text table of report rows."""
    return _pki.report_table(list(rows or []))


class FilterModule(object):
    """Certificate report filters."""

    def filters(self):
        return {"cert_report_table": cert_report_table}
