# -*- coding: utf-8 -*-
"""Every changelog fragment is what antsibull-changelog accepts (YAML, known sections, lists of text)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import ROOT


def test_fragments_lint_clean():
    tool = shutil.which("antsibull-changelog") or os.path.join(ROOT, ".venv", "bin", "antsibull-changelog")
    if not os.path.exists(tool):
        pytest.skip("antsibull-changelog not installed (requirements.txt)")
    out = subprocess.run([tool, "lint"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
