"""The ceiling for a Python UDP server: answer every query with one precomputed reply,
only the ID patched, in a blocking recvfrom/sendto loop (DESIGN "The hot path").

``python3 bench/ceiling_server.py PORT`` (127.0.0.1). Used by bench/auth_dnsperf.py.
"""

import socket
import sys

REPLY = bytes.fromhex(
    "0000 8400 0001 0001 0000 0000 0377 7777 0765 7861 6d70 6c65 0474 6573 7400 0001 0001"
    " c00c 0001 0001 0000 0e10 0004 c000 0250".replace(" ", ""))


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    recvfrom, sendto, tail = sock.recvfrom, sock.sendto, REPLY[2:]
    while True:
        data, addr = recvfrom(65535)
        sendto(data[:2] + tail, addr)


if __name__ == "__main__":
    main()
