# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_join gives a joining control plane the kubeadm patches that kubeadm init used.

groundwork.k8s.control_plane writes control_plane_patches on every control plane and puts
patches.directory into the InitConfiguration of the first; a JoinConfiguration without it gives
the other control planes unpatched static pods (and `kubeadm upgrade node` patches them later,
as roles/upgrade passes the directory whenever it exists). The role's templates are rendered
with Jinja2 (omit as a marker) for a control plane and a worker."""
from __future__ import annotations

import os

import jinja2
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, "roles", "node_join")
OMIT = "__omit_place_holder__"


def load(*parts):
    with open(os.path.join(ROLE, *parts), encoding="utf-8") as f:
        return yaml.safe_load(f)


def render(text, variables):
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
    env.tests["bool"] = lambda v: isinstance(v, bool)
    env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes", "on")
    return env.from_string(text).render(**variables).strip()


def patches_dir(control_plane, stat_isdir, given=""):
    defaults = load("defaults", "main.yml")
    tasks = load("tasks", "main.yml")
    join = next(t for t in tasks if "groundwork.k8s.kubeadm_join" in t)
    stat_task = [t for t in tasks if t.get("register") == "_node_join_patches"]
    assert stat_task, "node_join does not look for the control planes' patches directory"
    variables = {"node_join_patches_dir": given, "node_join_control_plane": control_plane, "omit": OMIT,
                 "control_plane_patches_dir": "/etc/kubernetes/patches"}
    variables["node_join_control_plane_patches_dir"] = render(defaults["node_join_control_plane_patches_dir"], variables)
    stat_runs = render("{% if " + str(stat_task[0]["when"]) + " %}1{% endif %}", variables) == "1"
    variables["_node_join_patches"] = ({"stat": {"exists": stat_isdir, "isdir": stat_isdir}} if stat_runs
                                       else {"skipped": True})
    if stat_runs:
        assert render(stat_task[0]["ansible.builtin.stat"]["path"], variables) == "/etc/kubernetes/patches"
    return render(join["groundwork.k8s.kubeadm_join"]["patches_dir"], variables)


def test_a_joining_control_plane_gets_the_init_patches():
    assert patches_dir(True, True) == "/etc/kubernetes/patches"


def test_no_patches_directory_means_none():
    assert patches_dir(True, False) == OMIT


def test_a_worker_gets_none_unless_given():
    assert patches_dir(False, True) == OMIT
    assert patches_dir(False, False, given="/srv/patches") == "/srv/patches"
    assert patches_dir(True, True, given="/srv/patches") == "/srv/patches"
