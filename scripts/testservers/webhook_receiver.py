#!/usr/bin/python3
"""An HTTP/1.1 webhook receiver for tests that checks Encours signatures and keeps what it accepts.

It listens on 127.0.0.1, prints "PORT <n>" as its first line on stdout once it accepts
connections, keeps connections alive, and writes into DIRECTORY:

  connections       the number of connections accepted so far (rewritten atomically)
  <n>.body          the body of accepted request n
  <n>.json          its delivery id, path, content type and signature header (written after <n>.body)

A request is accepted (200) when its Encours-Signature header is "t=<unix seconds>,v1=<hex>",
the hex being HMAC-SHA256 under SECRET of "<t>.<body>", and t is within 5 minutes of now;
otherwise it is answered 401. With --status CODE every request is answered CODE instead;
with --delay SECONDS every answer waits that long first.
It exits when its parent process goes away.
"""

import argparse
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300


def write_atomically(path, data):
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, path)


def signature_is_valid(header, body, secret, now):
    """The receiver-side check documented in docs/delivery.md."""
    if not header:
        return False
    timestamp = None
    signatures = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit() or not signatures:
        return False
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


class State:
    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()
        self.connections = 0
        self.accepted = 0

    def count_connection(self):
        with self.lock:
            self.connections += 1
            write_atomically(os.path.join(self.directory, "connections"), str(self.connections).encode())

    def next_number(self):
        with self.lock:
            self.accepted += 1
            return self.accepted


def handler_for(state, secret, status, delay, count_only=False):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are written separately: without this, Nagle and delayed ACKs add 40 ms per request.
        disable_nagle_algorithm = True

        def setup(self):
            super().setup()
            state.count_connection()

        def respond(self, code, payload):
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if delay:
                time.sleep(delay)
            if status is not None:
                self.respond(status, {"error": f"fixed status {status}"})
                return
            signature = self.headers.get("Encours-Signature")
            if not signature_is_valid(signature, body, secret, int(time.time())):
                self.respond(401, {"error": "invalid or stale signature"})
                return
            if count_only:
                # Under the lock: handler threads share the counter file (and its temporary name).
                with state.lock:
                    state.accepted += 1
                    number = state.accepted
                    write_atomically(os.path.join(state.directory, "accepted"), str(number).encode())
                self.respond(200, {"accepted": number})
                return
            number = state.next_number()
            write_atomically(os.path.join(state.directory, f"{number}.body"), body)
            record = {
                "delivery_id": self.headers.get("Encours-Delivery-Id"),
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "signature": signature,
            }
            write_atomically(os.path.join(state.directory, f"{number}.json"), json.dumps(record).encode())
            self.respond(200, {"accepted": number})

        def log_message(self, format, *arguments):
            pass

    return Handler


def exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    parser = argparse.ArgumentParser(description="webhook receiver for tests")
    parser.add_argument("directory", help="where accepted requests and the connection count are written")
    parser.add_argument("secret", help="the shared secret signatures are checked with")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--status", type=int, help="answer every request with this status")
    parser.add_argument("--delay", type=float, default=0, metavar="SECONDS", help="wait this long before answering")
    parser.add_argument("--count-only", action="store_true", help="keep no request, only their count (benchmarks)")
    arguments = parser.parse_args()
    os.makedirs(arguments.directory, exist_ok=True)
    state = State(arguments.directory)
    write_atomically(os.path.join(arguments.directory, "connections"), b"0")
    # The test runner may have blocked or ignored SIGTERM, which children inherit: end on it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, lambda number, frame: os._exit(0))
    threading.Thread(target=exit_with_parent, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", arguments.port), handler_for(state, arguments.secret, arguments.status, arguments.delay, arguments.count_only))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
