"""The SMTP relay of the Mail tests: aiosmtpd on 127.0.0.1:PORT, writing each message it accepts to DIR as
N.json (envelope, whether TLS and AUTH were used) and N.eml (the data as received once aiosmtpd has removed the
transparency dots). Runs until SIGTERM.

    smtp_peer.py PORT DIR [--tls none|starttls|implicit] [--cert PEM --key PEM] [--user NAME:PASSWORD]
                 [--refuse ADDRESS]... [--auth-without-tls] [--login-only]
    smtp_peer.py PORT DIR --script inject|long-line    # a hand-written hostile relay instead of aiosmtpd
"""
import argparse
import json
import os
import signal
import socket
import ssl
import threading

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("directory")
parser.add_argument("--tls", default="none", choices=["none", "starttls", "implicit"])
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--user")
parser.add_argument("--refuse", action="append", default=[])
parser.add_argument("--auth-without-tls", action="store_true")
parser.add_argument("--login-only", action="store_true")
parser.add_argument("--script", choices=["inject", "long-line"])
options = parser.parse_args()
# Blocked before any thread starts, so that only sigwait below receives it.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def hostile(connection):
    """Answers just enough SMTP to reach the misbehaviour under test."""
    with connection:
        reader = connection.makefile("rb")
        if options.script == "long-line":
            connection.sendall(b"220-" + b"x" * 600 + b"\r\n220 ready\r\n")
        else:
            connection.sendall(b"220 hostile ESMTP\r\n")
        for line in reader:
            command = line.strip().upper()
            if command.startswith(b"EHLO"):
                connection.sendall(b"250-hostile\r\n250 STARTTLS\r\n")
            elif command == b"STARTTLS":
                # An attacker's queued answer right behind the 220, in clear text.
                connection.sendall(b"220 go ahead\r\n250 injected\r\n")
            else:
                break


def serve_hostile():
    listener = socket.create_server(("127.0.0.1", options.port))
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=hostile, args=(connection,), daemon=True).start()


class Recorder:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in options.refuse:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            number = self.count
        base = os.path.join(options.directory, str(number))
        with open(base + ".eml.tmp", "wb") as out:
            out.write(envelope.original_content)
        with open(base + ".json.tmp", "w") as out:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                       "authenticated": session.authenticated,
                       "tls": server.transport.get_extra_info("ssl_object") is not None,
                       "helo": session.host_name}, out)
        os.rename(base + ".eml.tmp", base + ".eml")
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 Ok: queued as %d" % number


def authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult
    name, _, password = options.user.partition(":")
    accepted = auth_data.login == name.encode() and auth_data.password == password.encode()
    # handled=False: aiosmtpd answers 535 itself.
    return AuthResult(success=accepted, handled=False)


if options.script:
    threading.Thread(target=serve_hostile, daemon=True).start()
else:
    from aiosmtpd.controller import Controller

    context = None
    if options.tls != "none":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(options.cert, options.key)
    arguments = {"hostname": "127.0.0.1", "port": options.port, "server_hostname": "relay.test"}
    if options.tls == "starttls":
        arguments.update(tls_context=context, require_starttls=True)
    elif options.tls == "implicit":
        arguments.update(ssl_context=context)
    if options.user:
        arguments.update(authenticator=authenticator, auth_require_tls=not options.auth_without_tls,
                         auth_required=True, auth_exclude_mechanism=["PLAIN"] if options.login_only else [])
    controller = Controller(Recorder(), **arguments)
    controller.start()

print("ready", flush=True)
signal.sigwait({signal.SIGTERM})
os._exit(0)
