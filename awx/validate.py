# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX job templates and surveys as code: generate and check them against the roles.

``awx/job_templates.yml`` names, per playbook, the variables its survey asks and an example
answer for each. Everything else about a question (type, choices, default, required,
description) comes from the ``meta/argument_specs.yml`` of the roles that playbook runs, so
the surveys cannot drift from the roles. This module:

* loads every role's argument specs and walks each playbook (plays, ``roles:``,
  ``import_role``/``include_role`` in playbooks and in role task files, ``import_playbook``,
  role dependencies) to learn which role entry points it runs and which variables it sets;
* writes ``awx/surveys/<playbook>.json`` in AWX's ``survey_spec`` format (``--write``);
* checks both directions (``--check``, the default): every survey variable is an option of a
  role the playbook runs, with the question's type/choices/default/required equal to the
  spec; every required option without a default is asked by the survey, set by the
  playbook, or declared as coming from the inventory or a credential; every playbook has a
  job template; dangerous playbooks ask ``groundwork_confirm``; no playbook prompts.

Run: ``python awx/validate.py [--write|--check] [--root DIR]``. Exit status 1 lists the problems.
Tests import it (``tests/unit/test_awx_surveys.py``, ``tests/unit/test_playbooks_unattended.py``).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = "groundwork.k8s"
CONFIRM_VAR = "groundwork_confirm"

# Survey question types AWX knows, and how an argument-spec type maps onto them.
AWX_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")
PROMPT_MODULES = {"pause", "ansible.builtin.pause", "ansible.legacy.pause"}
ROLE_INCLUDES = {
    "import_role", "include_role", "ansible.builtin.import_role", "ansible.builtin.include_role",
    "ansible.legacy.import_role", "ansible.legacy.include_role",
}
TASK_INCLUDES = {
    "import_tasks", "include_tasks", "include", "ansible.builtin.import_tasks",
    "ansible.builtin.include_tasks", "ansible.legacy.import_tasks", "ansible.legacy.include_tasks",
}
CHECK_MODULES = {"assert", "fail", "ansible.builtin.assert", "ansible.builtin.fail",
                 "ansible.legacy.assert", "ansible.legacy.fail"}
# Modules that only read or decide: allowed before the confirmation check of a dangerous playbook.
READ_ONLY_MODULES = CHECK_MODULES | {
    "debug", "ansible.builtin.debug", "set_fact", "ansible.builtin.set_fact",
    "ansible.builtin.validate_argument_specs", "validate_argument_specs",
    "setup", "ansible.builtin.setup", "gather_facts", "ansible.builtin.gather_facts",
    "stat", "ansible.builtin.stat", "ansible.builtin.include_vars", "include_vars",
    "ansible.builtin.meta", "meta", "ansible.builtin.group_by", "group_by",
}
TASK_KEYWORDS = {
    "name", "when", "tags", "vars", "register", "become", "become_user", "become_method",
    "delegate_to", "delegate_facts", "run_once", "loop", "loop_control", "with_items", "with_list",
    "with_dict", "with_fileglob", "with_sequence", "with_subelements", "with_nested", "until",
    "retries", "delay", "changed_when", "failed_when", "ignore_errors", "ignore_unreachable",
    "no_log", "notify", "listen", "environment", "check_mode", "diff", "args", "any_errors_fatal",
    "throttle", "timeout", "module_defaults", "collections", "connection", "port", "remote_user",
    "debugger", "action", "local_action", "async", "poll", "block", "rescue", "always",
    "apply", "vars_files",
}
DANGEROUS_DEFAULT = ("restore", "reset", "rotate_ca")


class Problem(Exception):
    """A finding of the validator (the message says what to fix)."""


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def short_role(name):
    """``groundwork.k8s.pki`` -> ``pki``; roles of other collections -> None."""
    if not isinstance(name, str) or "{{" in name:
        return None
    if name.startswith(COLLECTION + "."):
        return name[len(COLLECTION) + 1:]
    if "." in name:
        return None
    return name


# ----------------------------------------------------------------------------- argument specs
def load_role_specs(root=ROOT):
    """{role: {entry_point: options}} for every role under roles/, plus roles without specs."""
    specs, missing = {}, []
    for role_dir in sorted(glob.glob(os.path.join(root, "roles", "*"))):
        if not os.path.isdir(role_dir):
            continue
        role = os.path.basename(role_dir)
        data = None
        for candidate in ("argument_specs.yml", "argument_specs.yaml"):
            path = os.path.join(role_dir, "meta", candidate)
            if os.path.exists(path):
                data = (load_yaml(path) or {}).get("argument_specs")
                break
        if data is None:
            meta_main = os.path.join(role_dir, "meta", "main.yml")
            if os.path.exists(meta_main):
                data = (load_yaml(meta_main) or {}).get("argument_specs")
        if not data:
            missing.append(role)
            continue
        specs[role] = {entry: (body or {}).get("options") or {} for entry, body in data.items()}
    return specs, missing


def role_defaults(root, role):
    """The role's defaults/main.yml: what it falls back to, e.g. "{{ groundwork_kubernetes_version }}"."""
    path = os.path.join(root or ROOT, "roles", role, "defaults", "main.yml")
    return (load_yaml(path) or {}) if os.path.exists(path) else {}


def role_dependencies(root, role):
    path = os.path.join(root, "roles", role, "meta", "main.yml")
    if not os.path.exists(path):
        return []
    deps = (load_yaml(path) or {}).get("dependencies") or []
    out = []
    for dep in deps:
        name = dep.get("role") or dep.get("name") if isinstance(dep, dict) else dep
        short = short_role(name)
        if short:
            out.append((short, "main", set(dep.get("vars", {}) or {}) if isinstance(dep, dict) else set()))
    return out


# ----------------------------------------------------------------------------- playbook walk
class Walk:
    """What a playbook runs: role entry points, variables it sets, prompts, task order."""

    def __init__(self, root):
        self.root = root
        self.entries = set()          # (role, entry_point)
        self.set_vars = set()         # variables the playbook (or a role call) sets
        self.prompts = []             # human-readable locations of pause / vars_prompt
        self.tasks = []               # flattened execution order: (where, module, task dict)
        self.missing = []             # referenced files that do not exist
        self._seen_files = set()

    # tasks -------------------------------------------------------------------------------
    @staticmethod
    def module_of(task):
        for key in task:
            if key not in TASK_KEYWORDS:
                return key
        if "action" in task or "local_action" in task:
            action = task.get("action") or task.get("local_action")
            if isinstance(action, dict):
                return action.get("module")
            return str(action).split()[0]
        return None

    def walk_tasks(self, tasks, where, base_dir, record=True):
        for task in tasks or []:
            if not isinstance(task, dict):
                continue
            if "block" in task:
                for part in ("block", "rescue", "always"):
                    self.walk_tasks(task.get(part), where, base_dir, record)
                continue
            module = self.module_of(task)
            label = "%s: %s" % (where, task.get("name", module))
            if record and module not in ROLE_INCLUDES | TASK_INCLUDES:
                # includes are transparent: what counts is the first task they run
                self.tasks.append((label, module, task))
            if module in PROMPT_MODULES:
                self.prompts.append("%s uses %s" % (label, module))
            if module in ROLE_INCLUDES:
                args = task.get(module) or {}
                if isinstance(args, str):
                    args = {"name": args}
                role = short_role(args.get("name"))
                self.set_vars.update((task.get("vars") or {}).keys())
                if role:
                    entry = os.path.splitext(args.get("tasks_from") or "main")[0]
                    self.walk_role(role, entry, label, record)
            elif module in TASK_INCLUDES:
                arg = task.get(module)
                if isinstance(arg, dict):
                    arg = arg.get("file")
                if isinstance(arg, str) and "{{" not in arg:
                    self.walk_file(os.path.join(base_dir, arg), where, record)

    def walk_file(self, path, where, record):
        if path in self._seen_files:
            return
        self._seen_files.add(path)
        if not os.path.exists(path):
            self.missing.append("%s: %s does not exist" % (where, os.path.relpath(path, self.root)))
            return
        tasks = load_yaml(path) or []
        self.walk_tasks(tasks, "%s > %s" % (where, os.path.relpath(path, self.root)),
                        os.path.dirname(path), record)

    def walk_role(self, role, entry, where, record=True):
        role_dir = os.path.join(self.root, "roles", role)
        key = (role, entry)
        if key in self.entries:
            return
        self.entries.add(key)
        if not os.path.isdir(role_dir):
            self.missing.append("%s: role %s does not exist" % (where, role))
            return
        for dep, dep_entry, dep_vars in role_dependencies(self.root, role):
            self.set_vars.update(dep_vars)
            self.walk_role(dep, dep_entry, "%s > role %s dependency" % (where, role), record)
        tasks_dir = os.path.join(role_dir, "tasks")
        for ext in (".yml", ".yaml"):
            path = os.path.join(tasks_dir, entry + ext)
            if os.path.exists(path):
                self.walk_file(path, "%s > role %s" % (where, role), record)
                return
        self.missing.append("%s: role %s has no tasks/%s.yml" % (where, role, entry))

    # plays -------------------------------------------------------------------------------
    def walk_playbook(self, path):
        path = os.path.abspath(path)
        if path in self._seen_files:
            return
        self._seen_files.add(path)
        rel = os.path.relpath(path, self.root)
        if not os.path.exists(path):
            self.missing.append("%s does not exist" % rel)
            return
        plays = load_yaml(path) or []
        for index, play in enumerate(plays):
            if not isinstance(play, dict):
                continue
            target = play.get("import_playbook") or play.get("ansible.builtin.import_playbook")
            if target:
                if target.startswith(COLLECTION + "."):
                    target = os.path.join(self.root, "playbooks", target[len(COLLECTION) + 1:] + ".yml")
                else:
                    target = os.path.join(os.path.dirname(path), target)
                self.walk_playbook(target)
                continue
            where = "%s play %d (%s)" % (rel, index + 1, play.get("name", play.get("hosts")))
            if play.get("vars_prompt"):
                self.prompts.append("%s uses vars_prompt" % where)
            self.set_vars.update((play.get("vars") or {}).keys())
            base = os.path.dirname(path)
            self.walk_tasks(play.get("pre_tasks"), where + " pre_tasks", base)
            for item in play.get("roles") or []:
                name = item if isinstance(item, str) else (item.get("role") or item.get("name"))
                if isinstance(item, dict):
                    self.set_vars.update((item.get("vars") or {}).keys())
                role = short_role(name)
                if role:
                    self.walk_role(role, "main", "%s roles: %s" % (where, name))
                else:
                    # a role of another collection: assume it changes things
                    self.tasks.append(("%s roles: %s" % (where, name), "role " + str(name), {"role": name}))
            self.walk_tasks(play.get("tasks"), where + " tasks", base)
            self.walk_tasks(play.get("post_tasks"), where + " post_tasks", base)
            self.walk_tasks(play.get("handlers"), where + " handlers", base, record=False)


def walk_playbook(root, path):
    walk = Walk(root)
    walk.walk_playbook(path)
    return walk


def playbook_files(root=ROOT):
    """Every playbook of the project: playbooks/*.yml and the root site.yml."""
    found = sorted(glob.glob(os.path.join(root, "playbooks", "*.yml")))
    found += [p for p in (os.path.join(root, "site.yml"),) if os.path.exists(p)]
    return found


# ----------------------------------------------------------------------------- data
def load_templates(root=ROOT):
    return load_yaml(os.path.join(root, "awx", "job_templates.yml"))


def template_playbook_path(root, template):
    return os.path.join(root, template["playbook"])


def dangerous_playbooks(data):
    return sorted(key for key, template in data["job_templates"].items() if template.get("confirm"))


def options_for(walk, specs):
    """{variable: [(role, entry, option spec)]} for the entry points a playbook runs.

    An entry point run with tasks_from but without its own spec falls back to the role's main
    spec (same defaults); ansible does not validate it at run time (see unspecified_entries)."""
    out = {}
    for role, entry in sorted(walk.entries):
        role_specs = specs.get(role, {})
        options = role_specs.get(entry)
        if options is None:
            options = role_specs.get("main") or {}
        for name, option in options.items():
            out.setdefault(name, []).append((role, entry, option))
    return out


def walk_mentions(walk, variable):
    """Is ``variable`` used in any file the playbook walk went through?"""
    pattern = re.compile(r"\b%s\b" % re.escape(variable))
    for path in getattr(walk, "_seen_files", ()):
        if os.path.exists(path) and pattern.search(open(path, encoding="utf-8").read()):
            return True
    return False


def unspecified_entries(walk, specs):
    """role:entry points the playbook runs that have no argument spec of their own."""
    return sorted("%s:%s" % (role, entry) for role, entry in walk.entries
                  if role in specs and entry not in specs[role])


def fed_by(root, options, variable):
    """Options whose role default is derived from ``variable`` (e.g. a contract groundwork_* variable)."""
    found = []
    pattern = re.compile(r"\b%s\b" % re.escape(variable))
    for name, places in options.items():
        for role, _entry, _option in places:
            default = role_defaults(root, role).get(name)
            if isinstance(default, str) and pattern.search(default):
                found.append("%s:%s" % (role, name))
    return sorted(set(found))


def confirm_option(key):
    """The argument spec of the confirmation a dangerous playbook checks (CONTRIBUTING.md)."""
    return {
        "type": "str", "required": True, "choices": [key],
        "description": "Type C(%s) to confirm. The playbook stops before any change otherwise." % key,
    }


# ----------------------------------------------------------------------------- questions
_MARKUP = re.compile(r"\b[CIOVMBLU]\(([^)]*)\)")


def plain(text):
    if isinstance(text, list):
        text = " ".join(text)
    return _MARKUP.sub(r"\1", str(text or "")).strip()


def awx_type(variable, option):
    """Survey type for an argument-spec option; Problem when AWX cannot ask for it."""
    kind = option.get("type", "str")
    if option.get("no_log") and kind == "str":
        return "password"
    if kind in ("str", "path", "raw"):
        return "multiplechoice" if option.get("choices") else "text"
    if kind == "int":
        return "integer"
    if kind == "float":
        return "float"
    if kind == "list" and option.get("elements", "str") == "str" and option.get("choices"):
        return "multiselect"
    if kind == "bool":
        raise Problem(
            "%s is a bool: AWX sends survey answers as strings ('false' is a non-empty string), "
            "so set it in the inventory or the template's extra variables, not in a survey" % variable)
    raise Problem("%s has type %s, which an AWX survey cannot ask for" % (variable, kind))


def make_question(key, variable, question, option, fallback=None):
    """One AWX survey_spec item built from the argument spec of ``variable``."""
    kind = awx_type(variable, option)
    item = {
        "question_name": question.get("question") or plain(option.get("description")).split(". ")[0][:120],
        "question_description": plain(option.get("description")),
        "required": bool(option.get("required")) or "default" not in option,
        "type": kind,
        "variable": variable,
    }
    if "default" in option and option["default"] is not None:
        default = option["default"]
        item["default"] = default if kind != "multiselect" else "\n".join(default)
    # else: no "default" key at all. AWX injects a question's default (even "") into the job's
    # extra variables; without one, an unanswered optional question leaves the variable
    # undefined and the role's defaults/main.yml (often derived from the inventory) applies.
    if option.get("choices"):
        item["choices"] = [str(c) for c in option["choices"]]
    if kind in ("text", "textarea", "password"):
        item["min"] = question.get("min", 0 if not item["required"] else 1)
        item["max"] = question.get("max", 1024)
    elif kind in ("integer", "float"):
        item["min"] = question.get("min", 0)
        item["max"] = question.get("max", 2147483647)
    if question.get("description"):
        item["question_description"] = plain(question["description"])
    elif "default" not in item and not item["required"] and isinstance(fallback, str):
        item["question_description"] += " Empty: %s." % plain(fallback)
    if variable == CONFIRM_VAR:
        item["question_name"] = question.get("question") or "Type '%s' to confirm" % key
        item["min"] = item["max"] = len(key)
        item["type"] = "text"
        item.pop("choices", None)
    return item


def build_survey(key, template, walk, specs):
    """(survey_spec, problems) for one job template."""
    problems, items = [], []
    options = options_for(walk, specs)
    for question in template.get("survey") or []:
        variable = question["variable"]
        fallback = None
        playbook_vars = template.get("playbook_vars") or {}
        if variable == CONFIRM_VAR:
            option = confirm_option(key)
        elif variable in playbook_vars and variable not in options:
            option = playbook_vars[variable]
            if not walk_mentions(walk, variable):
                problems.append("%s: playbook variable %s is not used by %s" % (key, variable, template["playbook"]))
        elif variable not in options:
            problems.append("%s: survey variable %s is not an option of any role %s runs (%s)" % (
                key, variable, template["playbook"],
                ", ".join("%s:%s" % e for e in sorted(walk.entries)) or "none"))
            continue
        else:
            option = options[variable][0][2]
            fallback = role_defaults(getattr(walk, "root", None), options[variable][0][0]).get(variable)
            kinds = {(place[2].get("type", "str"), tuple(place[2].get("choices") or ())) for place in options[variable]}
            if len(kinds) > 1:
                problems.append("%s: %s has different types/choices in %s" % (
                    key, variable, ", ".join("%s:%s" % place[:2] for place in options[variable])))
        try:
            items.append(make_question(key, variable, question, option, fallback))
        except Problem as exc:
            problems.append("%s: %s" % (key, exc))
    survey = {
        "name": template["name"],
        "description": plain(template.get("description")),
        "spec": items,
    }
    return survey, problems


def survey_path(root, key):
    return os.path.join(root, "awx", "surveys", key + ".json")


def dump_survey(survey):
    return json.dumps(survey, indent=2, sort_keys=False) + "\n"


# ----------------------------------------------------------------------------- checks
def check_survey_format(key, survey):
    """AWX's own rules for a survey_spec (awx/api/views: survey validation)."""
    problems = []
    if not isinstance(survey.get("name"), str) or not isinstance(survey.get("description"), str):
        problems.append("%s: survey needs string name and description" % key)
    seen = set()
    for item in survey.get("spec", []):
        var = item.get("variable")
        for field in ("question_name", "variable", "type", "required"):
            if field not in item:
                problems.append("%s: question %s lacks %s" % (key, var, field))
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(var)):
            problems.append("%s: %r is not a valid variable name" % (key, var))
        if var in seen:
            problems.append("%s: variable %s asked twice" % (key, var))
        seen.add(var)
        if item.get("type") not in AWX_TYPES:
            problems.append("%s: %s has unknown survey type %s" % (key, var, item.get("type")))
        if item.get("type") in ("multiplechoice", "multiselect"):
            choices = item.get("choices") or []
            if not choices:
                problems.append("%s: %s is %s without choices" % (key, var, item["type"]))
            defaults = str(item.get("default", "")).split("\n") if item.get("default") not in ("", None) else []
            for d in defaults:
                if d not in choices:
                    problems.append("%s: default %r of %s is not one of %s" % (key, d, var, choices))
        if item.get("type") == "integer" and item.get("default") not in ("", None) \
                and not isinstance(item["default"], int):
            problems.append("%s: default of integer %s is not an integer" % (key, var))
    return problems


def check_confirm(key, survey, template):
    """A dangerous playbook's survey asks, required, for the playbook's name."""
    problems = []
    items = [i for i in survey["spec"] if i["variable"] == CONFIRM_VAR]
    if not items:
        return ["%s: dangerous playbook without a %s survey question" % (key, CONFIRM_VAR)]
    item = items[0]
    if not item["required"] or "default" in item:
        problems.append("%s: %s must be required and have no default" % (key, CONFIRM_VAR))
    if key not in item["question_name"] or key not in item["question_description"]:
        problems.append("%s: the %s question must name the playbook %r" % (key, CONFIRM_VAR, key))
    example = [q for q in template["survey"] if q["variable"] == CONFIRM_VAR][0].get("example")
    if example != key:
        problems.append("%s: the example answer of %s must be %r" % (key, CONFIRM_VAR, key))
    return problems


def check_coverage(key, template, walk, specs):
    """Required options without a default are asked, set by the playbook, or declared as coming
    from the inventory/credentials; and everything declared so exists in a spec."""
    problems = []
    options = options_for(walk, specs)
    asked = {q["variable"] for q in template.get("survey") or []}
    declared = set(template.get("from_inventory") or []) | set(template.get("from_credentials") or [])
    for variable, places in sorted(options.items()):
        for role, entry, option in places:
            if option.get("required") and "default" not in option and variable not in (
                    asked | declared | walk.set_vars):
                problems.append(
                    "%s: required option %s of role %s (%s) is neither asked by the survey, set by %s, "
                    "nor listed under from_inventory/from_credentials"
                    % (key, variable, role, entry, template["playbook"]))
    for variable in sorted(declared):
        if variable not in options and not fed_by(getattr(walk, "root", None), options, variable):
            problems.append("%s: %s is listed as coming from the inventory/credentials but no role "
                            "%s runs has that option or derives a default from it" % (key, variable, template["playbook"]))
    return problems


def confirm_check_problems(root, key, path):
    """A dangerous playbook checks groundwork_confirm == its name before anything that changes."""
    walk = walk_playbook(root, path)
    for label, module, task in walk.tasks:
        if module in CHECK_MODULES:
            text = yaml.safe_dump(task)
            if CONFIRM_VAR in text:
                if key not in text:
                    return ["%s: %s compares %s but not with %r" % (key, label, CONFIRM_VAR, key)]
                return []
        if module not in READ_ONLY_MODULES:
            return ["%s: %s (%s) runs before %s is checked" % (key, label, module, CONFIRM_VAR)]
    return ["%s: %s is never checked" % (key, CONFIRM_VAR)]


def checks_confirm(walk):
    """Does any assert/fail the playbook runs look at groundwork_confirm?"""
    return any(module in CHECK_MODULES and CONFIRM_VAR in yaml.safe_dump(task) for _l, module, task in walk.tasks)


class Report:
    def __init__(self):
        self.problems = []
        self.pending = []         # templates whose playbook has not landed yet
        self.no_specs = []        # roles without meta/argument_specs.yml
        self.unspecified = []     # role:entry points run with tasks_from that have no spec of their own
        self.playbook_vars = []   # survey variables a playbook reads that no role spec declares
        self.prompts = []         # pause / vars_prompt anywhere
        self.surveys = {}         # key -> survey_spec built from the specs


def validate(root=ROOT, write=False):
    """Build every survey and check everything; with write=True also (re)write the JSON files."""
    report = Report()
    data = load_templates(root)
    specs, report.no_specs = load_role_specs(root)
    templates = data["job_templates"]
    by_playbook = {os.path.normpath(t["playbook"]): k for k, t in templates.items()}
    for path in playbook_files(root):
        rel = os.path.relpath(path, root)
        walk = walk_playbook(root, path)
        report.prompts.extend(walk.prompts)
        if os.path.basename(rel).startswith("_"):
            continue  # a part imported by other playbooks, not run on its own
        if rel not in by_playbook and rel not in data.get("not_templates", []):
            report.problems.append("%s has no job template in awx/job_templates.yml" % rel)
    for key, template in sorted(templates.items()):
        path = template_playbook_path(root, template)
        if not os.path.exists(path):
            report.pending.append(key)
            continue
        walk = walk_playbook(root, path)
        for role, _entry in sorted(walk.entries):
            if role not in specs and role not in report.no_specs and os.path.isdir(os.path.join(root, "roles", role)):
                report.no_specs.append(role)
        for entry in unspecified_entries(walk, specs):
            if entry not in report.unspecified:
                report.unspecified.append(entry)
        report.playbook_vars.extend("%s:%s" % (key, v) for v in sorted(template.get("playbook_vars") or {}))
        survey, problems = build_survey(key, template, walk, specs)
        report.surveys[key] = survey
        report.problems.extend(problems)
        report.problems.extend(check_survey_format(key, survey))
        report.problems.extend(check_coverage(key, template, walk, specs))
        if checks_confirm(walk) and not template.get("confirm"):
            report.problems.append("%s checks %s: mark its template confirm: true and ask it in the survey"
                                   % (template["playbook"], CONFIRM_VAR))
        if template.get("confirm"):
            report.problems.extend(check_confirm(key, survey, template))
            report.problems.extend(confirm_check_problems(root, key, path))
        target = survey_path(root, key)
        text = dump_survey(survey)
        if write and not problems:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)
        elif not os.path.exists(target):
            report.problems.append("%s missing: run python awx/validate.py --write" % os.path.relpath(target, root))
        elif open(target, encoding="utf-8").read() != text:
            report.problems.append("%s differs from the role specs: run python awx/validate.py --write"
                                   % os.path.relpath(target, root))
    report.problems.extend(report.prompts)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--root", default=ROOT)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="(re)write awx/surveys/*.json")
    mode.add_argument("--check", action="store_true", help="only check (default)")
    args = parser.parse_args(argv)
    report = validate(args.root, write=args.write)
    print("surveys: %d checked (%s)" % (len(report.surveys), ", ".join(sorted(report.surveys))))
    if report.pending:
        print("pending (playbook not in the repository yet): %s" % ", ".join(report.pending))
    if report.no_specs:
        print("roles without meta/argument_specs.yml: %s" % ", ".join(sorted(report.no_specs)))
    if report.unspecified:
        print("entry points without their own argument spec (not validated at run time): %s"
              % ", ".join(sorted(report.unspecified)))
    if report.playbook_vars:
        print("survey variables read by playbooks, specified in awx/job_templates.yml (no role spec): %s"
              % ", ".join(report.playbook_vars))
    for problem in report.problems:
        print("PROBLEM: %s" % problem)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
