"""Runs moto's S3 API emulator on 127.0.0.1 with a port the OS picks.

Prints `listening http://HOST:PORT` once it accepts connections, then serves
until stdin closes (the Rust test that started it dropped the pipe or died).
moto emulates the S3 HTTP API; it is a stand-in for exercising the S3 code
path, not AWS itself.
"""

import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"listening http://{host}:{port}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
