#!/usr/bin/env python
"""Sign a lab's flat APT repository the way the site mirror's bundle is signed (test helper).

  sign-apt-repo.py REPO_DIR GNUPG_HOME     -> REPO_DIR/{Release,InRelease,Release.gpg,groundwork-apt.asc}

Uses the product's own code (plugins/module_utils/_mirror.py: sign_apt_repo), so the lab's package
repositories are used exactly as a site's: `deb [signed-by=<pinned key>] URL ./`, never trusted=yes.
"""
import email.utils
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.groundwork.k8s.plugins.module_utils import _mirror as M  # noqa: E402
from ansible_collections.groundwork.k8s.plugins.module_utils._runner import Runner  # noqa: E402


def main() -> int:
    repo, home = sys.argv[1], sys.argv[2]
    changed, fpr = M.sign_apt_repo(repo, home, lambda argv: Runner(argv[0]).run(argv[1:])[1],
                                   email.utils.formatdate(usegmt=True))
    print("apt repo %s signed by %s (%s)" % (repo, fpr, "re-signed" if changed else "unchanged"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
