"""Exit 0 only if this host has no route out of the lab.

Connects to 192.0.2.1 (TEST-NET-1, RFC 5737: never a real host) and to a TEST-NET-3 address;
with no default route the kernel refuses locally with ENETUNREACH before any packet leaves.
Prints what happened as JSON.
"""
import errno
import json
import socket
import sys

TARGETS = [("192.0.2.1", 443), ("203.0.113.1", 80)]


def probe(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((addr, port))
        return "connected"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()


def main():
    result = {"%s:%d" % t: probe(*t) for t in TARGETS}
    print(json.dumps(result, sort_keys=True))
    sys.exit(0 if all(v == "ENETUNREACH" for v in result.values()) else 1)


if __name__ == "__main__":
    main()
