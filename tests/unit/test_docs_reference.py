# -*- coding: utf-8 -*-
"""docs/reference/ is what scripts/gen-docs.py makes from the modules' docs and the roles' argument specs."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_reference_is_fresh():
    out = subprocess.run([sys.executable, "scripts/gen-docs.py", "--check"], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr + "\nrun: python3 scripts/gen-docs.py"
