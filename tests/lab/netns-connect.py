#!/usr/bin/env python
"""ssh ProxyCommand into a lab from outside it: relay stdin/stdout to HOST:PORT.

The lab's hosts are reachable only from its controller namespace (NAME-ctl). Tools that run in the
machine's own namespace (molecule) reach them with
  -o ProxyCommand="ip netns exec NAME-ctl python3 tests/lab/netns-connect.py %h %p"
Standard library only.
"""
import os
import socket
import sys
import threading


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)

    def pump_in() -> None:
        while True:
            data = os.read(0, 65536)
            if not data:
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            sock.sendall(data)

    threading.Thread(target=pump_in, daemon=True).start()
    while True:
        data = sock.recv(65536)
        if not data:
            return 0
        os.write(1, data)


if __name__ == "__main__":
    sys.exit(main())
