# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""A small TOML writer for configuration rendered from data (containerd's config.toml, hosts.toml).

Writes dicts as tables (``[a.b."c.d"]``), lists as inline arrays, dicts inside lists as inline
tables. ``None`` values are left out, so an override can remove a key by setting it to null.
Output is stable: keys keep their insertion order.
"""

from __future__ import annotations

import math
import re

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _key(key):
    if not isinstance(key, str):
        raise GroundworkError("TOML keys must be strings, got %r" % (key,))
    return key if _BARE_KEY.match(key) else _string(key)


def _string(value):
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"%s"' % "".join(out)


def _value(value, path):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ("-" if value < 0 else "") + ("nan" if math.isnan(value) else "inf")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        items = ["%s = %s" % (_key(k), _value(v, path + [k])) for k, v in value.items() if v is not None]
        return "{%s}" % ", ".join(items) if items else "{}"
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(_value(v, path) for v in value if v is not None)
    raise GroundworkError("cannot write %s (%s) as TOML at %s" % (value, type(value).__name__, ".".join(path) or "top"))


def _is_table(value):
    return isinstance(value, dict)


def _emit(table, path, lines):
    scalars = [(k, v) for k, v in table.items() if v is not None and not _is_table(v)]
    tables = [(k, v) for k, v in table.items() if _is_table(v)]
    if path and (scalars or not tables):
        if lines:
            lines.append("")
        lines.append("[%s]" % ".".join(_key(p) for p in path))
    for k, v in scalars:
        lines.append("%s = %s" % (_key(k), _value(v, path + [k])))
    for k, v in tables:
        _emit(v, path + [k], lines)


def dumps(data):
    """``data`` (a dict) as TOML text ending in a newline."""
    if not isinstance(data, dict):
        raise GroundworkError("TOML documents are tables: expected a dict, got %s" % type(data).__name__)
    lines = []
    _emit(data, [], lines)
    return "\n".join(lines) + "\n"
