# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Role inputs checked against the roles' argument specs, on the controller, before any host changes.

Ansible validates a role's inputs against its ``meta/argument_specs.yml`` only when that role starts,
after earlier plays have changed every host, and its message names the role's variable
(``pki_key_type``), not the one the user set (``groundwork_pki_key_type``). Preflight calls
``check_role_inputs`` once on the controller instead, with every host's variables as the inventory and
the extra vars give them:

* a variable whose name is an option of a role's ``main`` entry point is checked against that option;
* a ``groundwork_*`` global is checked against the option of every role variable it *feeds*: a role
  default that is exactly ``{{ groundwork_x }}`` or ``{{ groundwork_x | default(<d>[, true]) }}``
  (``feeds_from_defaults``). The problem names the global, then the role variables it feeds. A default
  that derives something from a global (``{{ groundwork_x | length > 0 }}``, ``... ~ '-etcd'``) is not a
  feed: the global's value is not the role variable's value.

The global -> role variable map is built at run time from ``roles/*/defaults/main.yml`` (``load_roles``),
not generated at build time: the defaults files are the one source of what feeds what, so the map
cannot go stale, and reading 22 small YAML files once per run costs milliseconds.

Checking uses Ansible's own ``ArgumentSpecValidator`` (types, choices, elements, suboptions and their
required / required_together / mutually_exclusive ...), as Ansible's role validation does, with two
differences, both because the role keeps the *raw* variable (role validation checks, it does not convert):

* ``required`` of a top-level option is not checked: a role default, the play or ``include_role``
  may give it; only what the user set is judged. Entry-point level constraints are not passed either
  (Ansible's role validation ignores them too).
* a container where the spec wants another shape is refused (``strict_shape_problems``): a string for
  a ``list`` (the validator would split ``'a,b'``; the role would iterate the characters), a string for
  a ``dict``, a list or dict for a ``str``/``path``. Strings for ``int``/``bool`` stay accepted as
  Ansible accepts them (``-e`` gives only strings; the roles convert with ``| int`` / ``| bool``).

Values that are still Jinja templates (a ``{{``/``{%`` anywhere inside) are skipped: they are not user
literals and are checked when the role renders them. So are vault-encrypted values (never decrypted here). ``None`` is skipped (unset). A global fed with
``default(<d>, true)`` is skipped when falsy (the role then gets ``<d>``). Values of ``no_log`` options
never appear in a message.
"""

from __future__ import annotations

import ast
import json
import os
import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import ArgumentTypeError, ArgumentValueError, UnsupportedError

ENTRY_POINT = "main"
GLOBAL_PREFIX = "groundwork_"
_NAME_RE = re.compile(r"^groundwork_\w+$")
_DEFAULT_CALL_RE = re.compile(r"^(?:default|d)\s*\((.*)\)$", re.S)
_TEMPLATE_MARKS = ("{{", "{%", "{#")
# shapes the role receives as-is; the keys are argument spec types
_SHAPES = {"list": (list, tuple), "dict": (dict,), "str": (str,), "path": (str,)}
_SHAPE_NAMES = {list: "list", tuple: "list", dict: "dict", str: "str", int: "int", float: "float", bool: "bool"}
_JINJA_LITERALS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}


# ---------------------------------------------------------------------------------------------------
# The map: which global feeds which role variable


def _split_top(text, sep):
    """Split ``text`` at ``sep`` outside quotes and brackets; None when the brackets do not balance."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if depth or quote:
        return None
    parts.append("".join(cur).strip())
    return parts


def _literal(text):
    """A Jinja literal as Python (``'x'``, ``[]``, ``true``, ``8443``); ``(False, None)`` when not one."""
    text = text.strip()
    if text in _JINJA_LITERALS:
        return True, _JINJA_LITERALS[text]
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return False, None


def parse_feed(value):
    """The global a role default feeds through unchanged, or None.

    ``"{{ groundwork_x }}"`` -> ``{"global": "groundwork_x", "default": None, "has_default": False,
    "falsy_default": False}``; ``"{{ groundwork_x | default('a', true) }}"`` -> global ``groundwork_x``,
    ``has_default`` True, ``default`` ``'a'`` (None when the default is an expression), ``falsy_default``
    True (an empty/false/None global gives the default). Anything else (a filter after the default, an
    expression around the global, text outside the braces) -> None.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        return None
    inner = text[2:-2]
    if "{{" in inner or "}}" in inner:
        return None
    parts = _split_top(inner.strip(), "|")
    if not parts or not _NAME_RE.match(parts[0]) or len(parts) > 2:
        return None
    feed = {"global": parts[0], "default": None, "has_default": False, "falsy_default": False}
    if len(parts) == 2:
        m = _DEFAULT_CALL_RE.match(parts[1])
        if not m:
            return None
        args = _split_top(m.group(1), ",")
        if args is None or not 1 <= len(args) <= 2 or not args[0]:
            return None
        feed["has_default"] = True
        ok, default = _literal(args[0])
        feed["default"] = default if ok else None
        if len(args) == 2:
            ok, flag = _literal(args[1].split("=", 1)[-1] if args[1].startswith("boolean") else args[1])
            if not ok or not isinstance(flag, bool):
                return None
            feed["falsy_default"] = flag
    return feed


def feeds_from_defaults(defaults_by_role):
    """``{global: [{"role", "var", "default", "has_default", "falsy_default"}, ...]}`` from parsed defaults files."""
    feeds = {}
    for role in sorted(defaults_by_role):
        for var, value in (defaults_by_role[role] or {}).items():
            feed = parse_feed(value)
            if feed:
                feeds.setdefault(feed["global"], []).append(dict(
                    role=role, var=var, default=feed["default"], has_default=feed["has_default"],
                    falsy_default=feed["falsy_default"]))
    return feeds


def options_index(specs_by_role):
    """``{option name: [(role, option spec), ...]}`` of every role's ``main`` entry point."""
    index = {}
    for role in sorted(specs_by_role):
        entry = (specs_by_role[role] or {}).get(ENTRY_POINT) or {}
        for name, spec in (entry.get("options") or {}).items():
            index.setdefault(name, []).append((role, spec or {}))
    return index


def load_roles(roles_dir):
    """Read every role's argument specs and defaults under ``roles_dir`` (controller side only).

    Returns ``{"specs": {role: argument_specs}, "defaults": {role: defaults}}``. A role without
    ``meta/argument_specs.yml`` (or ``argument_specs`` in ``meta/main.yml``) has no spec to check against.
    """
    import yaml  # PyYAML: only the controller reads role files

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster on 45 files
    specs, defaults = {}, {}
    for role in sorted(os.listdir(roles_dir)):
        base = os.path.join(roles_dir, role)
        if not os.path.isdir(base):
            continue
        for name in ("argument_specs.yml", "argument_specs.yaml", "main.yml", "main.yaml"):
            path = os.path.join(base, "meta", name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    data = yaml.load(f, Loader=loader) or {}  # nosec B506: a safe loader
                if isinstance(data, dict) and data.get("argument_specs"):
                    specs[role] = data["argument_specs"]
                    break
        for name in ("main.yml", "main.yaml"):
            path = os.path.join(base, "defaults", name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    defaults[role] = yaml.load(f, Loader=loader) or {}  # nosec B506: a safe loader
                break
    return {"specs": specs, "defaults": defaults}


# ---------------------------------------------------------------------------------------------------
# Checking one value


def is_template(value):
    """True when a string anywhere inside ``value`` is (or holds) a Jinja template."""
    if isinstance(value, str):
        return any(mark in value for mark in _TEMPLATE_MARKS)
    if isinstance(value, dict):
        return any(is_template(k) or is_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(is_template(v) for v in value)
    return False


def is_literal(value):
    """True when ``value`` is plain data a user wrote (str, numbers, bool, None, lists and dicts of them).

    A vault-encrypted value (ansible-core's ``EncryptedString``) or any other object is not: it is left to
    the role, and never decrypted or printed here.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, dict):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_literal(v) for v in value)
    return False


def _shape(value):
    for typ, name in _SHAPE_NAMES.items():
        if type(value) is typ:  # pylint: disable=unidiomatic-typecheck  # bool is an int subclass
            return name
    for typ, name in _SHAPE_NAMES.items():
        if isinstance(value, typ):
            return name
    return type(value).__name__


def _wrong_shape(want, value):
    """The shape name of ``value`` when the role would receive another shape than ``want`` asks."""
    shapes = _SHAPES.get(want)
    if shapes is None or value is None:
        return None
    if want in ("str", "path"):
        return _shape(value) if isinstance(value, (list, tuple, dict)) else None
    return None if isinstance(value, shapes) else _shape(value)


def strict_shape_problems(name, spec, value):
    """Containers of the wrong shape inside ``value`` (see the module docstring), as messages."""
    out = []
    want = spec.get("type", "str") if not callable(spec.get("type")) else None
    got = _wrong_shape(want, value)
    if got:
        out.append("%s is a %s, not a %s" % (name, got, want))
        return out
    elements = spec.get("elements")
    suboptions = spec.get("options") or {}
    if want == "list" and isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            where = "%s[%d]" % (name, i)
            got = _wrong_shape(elements, item) if isinstance(elements, str) else None
            if got:
                out.append("%s is a %s, not a %s" % (where, got, elements))
            elif elements == "dict" and isinstance(item, dict):
                out.extend(_suboption_shapes(where, suboptions, item))
    elif want == "dict" and isinstance(value, dict):
        out.extend(_suboption_shapes(name, suboptions, value))
    return out


def _suboption_shapes(where, suboptions, value):
    out = []
    for key, sub in suboptions.items():
        if key in value:
            out.extend(strict_shape_problems("%s.%s" % (where, key), sub or {}, value[key]))
    return out


def _no_log_strings(spec, value, result):
    found = set(getattr(result, "_no_log_values", set()) or set())
    if spec.get("no_log") and value not in (None, ""):
        found.add(value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str))
        if isinstance(value, (dict, list, tuple)):
            stack = [value]
            while stack:
                item = stack.pop()
                if isinstance(item, dict):
                    stack.extend(item.values())
                elif isinstance(item, (list, tuple)):
                    stack.extend(item)
                elif item not in (None, "") and not isinstance(item, bool):
                    found.add(str(item))
    return found


def validate_value(name, spec, value):
    """Problems of ``value`` for one option ``spec``, named ``name``: ``[(kind, message)]``.

    ``kind`` is ``choices`` (a top-level value outside ``choices``), ``type`` (a wrong top-level type or
    shape) or ``spec`` (anything inside: elements, suboptions, their required/choices ...).
    """
    spec = {k: v for k, v in (spec or {}).items() if k not in ("required", "default")}
    out = []
    for msg in strict_shape_problems(name, spec, value):
        out.append(("type" if msg.startswith(name + " ") else "spec", msg))
    result = ArgumentSpecValidator({name: spec}).validate({name: value})
    hidden = _no_log_strings(spec, value, result)
    choices = spec.get("choices")
    for err in result.errors.errors:
        msg = err.msg
        if isinstance(err, ArgumentValueError) and choices and msg.startswith("value of %s must be one of:" % name):
            kind, msg = "choices", "value %s is not one of %s" % (value, ", ".join(str(c) for c in choices))
        elif isinstance(err, ArgumentTypeError) and msg.startswith("argument '%s' " % name):
            kind = "type"
        elif isinstance(err, UnsupportedError):
            kind, msg = "spec", "unsupported parameter " + msg
        else:
            kind = "spec"
        if out and kind == "type":  # the shape problem already says it
            continue
        out.append((kind, remove_values(msg, hidden) if hidden else msg))
    if hidden:
        out = [(k, remove_values(m, hidden)) for k, m in out]
    return out


def _type_words(spec):
    want = spec.get("type", "str")
    words = "a %s" % want
    if want == "list" and spec.get("elements"):
        words += " of %s" % spec["elements"]
    return words


def _fix(name, kind, spec, default, has_default, roles):
    if len(roles) == 1:
        where = "the argument spec of role %s says (docs/reference/roles/%s.md)" % (roles[0], roles[0])
    else:
        where = "the argument specs of roles %s say (docs/reference/roles/)" % ", ".join(roles)
    if kind == "choices":
        fix = "set %s to one of %s" % (name, ", ".join(str(c) for c in spec["choices"]))
        if has_default and default not in (None, ""):
            fix += ", or remove it to use the default %s" % (default,)
        return fix + "."
    if kind == "type":
        return "set %s to %s (YAML%s), as %s." % (
            name, _type_words(spec),
            {"list": " list: [a, b]", "dict": " mapping: {key: value}"}.get(spec.get("type"), " scalar"), where)
    return "correct %s as %s." % (name, where)


# ---------------------------------------------------------------------------------------------------
# Every host's inputs


def _raw_vars(hostvars, host):
    """A host's variables as set (templates not rendered): ``HostVars.raw_get`` or a plain dict."""
    raw_get = getattr(hostvars, "raw_get", None)
    try:
        data = raw_get(host) if raw_get is not None else hostvars.get(host)
    except Exception:  # pylint: disable=broad-except  # a host Ansible cannot resolve has nothing to check
        return {}
    return data if isinstance(data, dict) or hasattr(data, "items") else {}


def _targets(name, index, feeds):
    """``[(role, role variable, option spec, default, has_default, falsy_default)]`` ``name`` is checked against."""
    if name in index:
        return [(role, name, spec, spec.get("default"), "default" in spec, False) for role, spec in index[name]]
    out = []
    for feed in feeds.get(name, ()):
        for role, spec in index.get(feed["var"], ()):
            if role == feed["role"]:
                out.append((role, feed["var"], spec, feed["default"], feed["has_default"], feed["falsy_default"]))
    return out


def _about(known_errors, name):
    return any(isinstance(e, str) and (e.startswith(name + " ") or e.startswith(name + ":")) for e in known_errors)


def check_role_inputs(hostvars, hosts, specs_by_role, defaults_by_role, known_errors=()):
    """Every role input set on ``hosts`` checked against the roles' argument specs.

    ``hostvars``: the ``hostvars`` magic variable (its raw, unrendered values are read) or ``{host: vars}``.
    ``known_errors``: problems already reported (the topology check's); a variable one of them starts
    with is not reported twice. Returns ``{"errors": [line, ...], "checked": [variable, ...]}``: each line
    names the variable the user set, what it feeds, the hosts when not all of them, and ends with
    ``Fix:`` and what to change.
    """
    index = options_index(specs_by_role)
    feeds = feeds_from_defaults(defaults_by_role)
    hosts = list(hosts)
    found = {}   # (name, line) -> [hosts], in first-seen order
    checked = set()
    cache = {}
    for host in hosts:
        for name, value in sorted(_raw_vars(hostvars, host).items(), key=lambda kv: str(kv[0])):
            if not isinstance(name, str) or (name not in index and name not in feeds):
                continue
            if value is None or not is_literal(value) or is_template(value):
                continue
            targets = _targets(name, index, feeds)
            if not targets:
                continue
            checked.add(name)
            try:
                key = (name, json.dumps(value, sort_keys=True, default=repr))
            except (TypeError, ValueError):
                key = None
            lines = cache.get(key) if key is not None else None
            if lines is None:
                lines = _problems(name, value, targets)
                if key is not None:
                    cache[key] = lines
            for line in lines:
                if not _about(known_errors, name):
                    found.setdefault((name, line), []).append(host)
    errors = []
    for (name, line), on in found.items():
        head, _sep, rest = line.partition(": ")
        if len(on) < len(hosts):
            head += " on %s" % ", ".join(on)
        errors.append("%s: %s" % (head, rest))
    return {"errors": errors, "checked": sorted(checked)}


def _problems(name, value, targets):
    """Problem lines for one variable and value against each target (grouped by identical problem)."""
    by_problem = {}
    for role, var, spec, default, has_default, falsy_default in targets:
        if var != name and falsy_default and not value:
            continue  # the role gets its default
        for kind, msg in validate_value(name, spec, value):
            entry = by_problem.setdefault((kind, msg), {
                "targets": [], "spec": spec, "default": default, "has_default": has_default})
            entry["targets"].append((role, var))
    lines = []
    for (kind, msg), entry in by_problem.items():
        roles = [r for r, _v in entry["targets"]]
        if entry["targets"][0][1] == name:
            head = "%s (role %s)" % (name, ", ".join(roles))
        else:
            head = "%s (feeds %s)" % (name, ", ".join("%s of role %s" % (v, r) for r, v in entry["targets"]))
        fix = _fix(name, kind, entry["spec"], entry["default"], entry["has_default"], roles)
        lines.append("%s: %s. Fix: %s" % (head, msg.rstrip("."), fix))
    return lines
