#!/usr/bin/python3
"""An SMTP server for tests that keeps every message it accepts as files.

Run with Debian's /usr/bin/python3 (python3-aiosmtpd). It listens on 127.0.0.1, prints
"PORT <n>" as its first line on stdout once it accepts connections, and writes into DIRECTORY:

  connections       the number of connections accepted so far (rewritten atomically)
  <n>.eml           message n as received (after SMTP dot-unstuffing)
  <n>.json          its envelope and its parsed content (written after <n>.eml):
                    mail_from, rcpt_tos, tls, login, subject, message_id, from, to,
                    content_type, text, html (LF line breaks), defects, max_line_length, bare_line_feeds

Options make it misbehave on purpose: --refuse ADDRESS (550 for that recipient), --auth
USER:PASSWORD (AUTH PLAIN/LOGIN required, allowed without TLS), --starttls CERT KEY (offer and
require STARTTLS), --fail-first N (451 for the first N messages), --close-after-message (drop
the connection after each accepted message). It exits when its parent process goes away.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_atomically(path, data):
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, path)


def describe(raw):
    """The parts of a message a test checks, parsed by Python's own email package."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    defects = [type(defect).__name__ for part in message.walk() for defect in part.defects]
    lines = raw.split(b"\r\n")
    return {
        "subject": str(message["subject"]) if message["subject"] is not None else None,
        "message_id": str(message["message-id"]) if message["message-id"] is not None else None,
        "from": str(message["from"]) if message["from"] is not None else None,
        "to": str(message["to"]) if message["to"] is not None else None,
        "content_type": message.get_content_type(),
        "text": text.get_content().replace("\r\n", "\n") if text is not None else None,
        "html": html.get_content().replace("\r\n", "\n") if html is not None else None,
        "defects": defects,
        "max_line_length": max(len(line) for line in lines),
        "bare_line_feeds": sum(line.count(b"\n") for line in lines),
    }


class Sink:
    def __init__(self, arguments):
        self.arguments = arguments
        self.directory = arguments.directory
        self.refused = {address.lower() for address in arguments.refuse}
        self.connections = 0
        self.messages = 0
        self.failed = 0

    def count_connection(self):
        self.connections += 1
        write_atomically(os.path.join(self.directory, "connections"), str(self.connections).encode())

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused:
            return f"550 5.1.1 <{address}>: recipient refused"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.arguments.delay_first_ms and self.messages == 0 and self.failed == 0 and not getattr(self, "delayed", False):
            # The first message's reply waits: its client holds its connection meanwhile.
            self.delayed = True
            await asyncio.sleep(self.arguments.delay_first_ms / 1000)
        if self.failed < self.arguments.fail_first:
            self.failed += 1
            return "451 4.3.0 temporary failure, try again later"
        self.messages += 1
        number = self.messages
        if self.arguments.count_only:
            write_atomically(os.path.join(self.directory, "messages"), str(number).encode())
            return f"250 2.0.0 OK queued as {number}"
        raw = envelope.original_content
        write_atomically(os.path.join(self.directory, f"{number}.eml"), raw)
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None,
            "login": login,
        }
        record.update(describe(raw))
        write_atomically(os.path.join(self.directory, f"{number}.json"), json.dumps(record).encode())
        if self.arguments.close_after_message:
            # Runs once the 250 reply below is written: the client finds the connection closed.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return f"250 2.0.0 OK queued as {number}"


def authenticator_for(credentials):
    user, _, password = credentials.partition(":")

    def authenticate(server, session, envelope, mechanism, auth_data):
        accepted = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=accepted, handled=False, auth_data=auth_data)

    return authenticate


def exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


async def serve(arguments):
    sink = Sink(arguments)
    options = {"hostname": "sink.encours.test", "decode_data": False}
    if arguments.auth:
        options.update(auth_required=True, auth_require_tls=False, authenticator=authenticator_for(arguments.auth))
    if arguments.starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(arguments.starttls[0], arguments.starttls[1])
        options.update(tls_context=context, require_starttls=True)

    def connection():
        sink.count_connection()
        return SMTP(sink, **options)

    server = await asyncio.get_running_loop().create_server(connection, "127.0.0.1", arguments.port)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description="SMTP sink for tests")
    parser.add_argument("directory", help="where messages and the connection count are written")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--refuse", action="append", default=[], metavar="ADDRESS", help="answer 550 for this recipient")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="require AUTH with these credentials")
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"), help="offer and require STARTTLS")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N", help="answer 451 to the first N messages")
    parser.add_argument("--close-after-message", action="store_true", help="close the connection after each message")
    parser.add_argument("--delay-first-ms", type=int, default=0, metavar="MS", help="answer the first message's DATA after MS milliseconds")
    parser.add_argument("--count-only", action="store_true", help="keep no message, only their count (benchmarks)")
    arguments = parser.parse_args()
    os.makedirs(arguments.directory, exist_ok=True)
    write_atomically(os.path.join(arguments.directory, "connections"), b"0")
    # The test runner may have blocked or ignored SIGTERM, which children inherit: end on it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, lambda number, frame: os._exit(0))
    threading.Thread(target=exit_with_parent, daemon=True).start()
    try:
        asyncio.run(serve(arguments))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
