"""Print the machine's global sysctls, one "key = value" a line, sorted.

Leaves out net.* (per network namespace: the lab may change those in its own namespaces) and
counters that move on their own (dentry/inode/file counts, last pid, random uuid...), so two
snapshots differ only if a setting of the machine was changed. Also left out: the two inotify limits
that a real-lane lab raises on purpose (lab up with GW_LAB_INOTIFY_*, printed there), since another
scenario running beside this one may raise them.
"""
import os
import re
import sys

VOLATILE = re.compile(
    r"^(net\.|fs\.inotify\.max_user_(instances|watches)$|fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr|quota\.)|"
    r"kernel\.(ns_last_pid|random\.(uuid|entropy_avail)|pty\.nr|sched_domain\.)|"
    r"fs\.binfmt_misc\.|dev\.cdrom\.|kernel\.usermodehelper\.)"
)


def main():
    lines = []
    for root, dirs, files in os.walk("/proc/sys"):
        dirs.sort()
        for name in files:
            path = os.path.join(root, name)
            key = os.path.relpath(path, "/proc/sys").replace("/", ".")
            if VOLATILE.match(key):
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    value = " ".join(f.read().split())
            except OSError:
                continue  # write-only or not readable here
            lines.append("%s = %s" % (key, value))
    sys.stdout.write("\n".join(sorted(lines)) + "\n")


if __name__ == "__main__":
    main()
