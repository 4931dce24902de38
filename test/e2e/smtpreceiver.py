"""A local SMTP server for the email notifier's tests (Debian's python3-aiosmtpd):
STARTTLS required, AUTH required (over TLS only) and checked, every mail it accepts
recorded with its envelope and parsed message.

Its certificate is made by the test with openssl (make_ca_and_cert): a throw-away CA
that kloompas is given as ca_file, and a server certificate for 127.0.0.1, so
kloompas verifies TLS exactly as it would against a real relay.

fail(code) makes it refuse every RCPT with that reply (451: "try again later") until
ok(); refused counts those answers. It listens on 127.0.0.1 only and is stopped by
close() (the tests' fixture).
"""
import email
import email.policy
import socket
import ssl
import subprocess
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def make_ca_and_cert(d):
    """Writes ca.pem, server.pem, server.key under d (a pathlib.Path); returns the CA path."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kl-test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
    return str(d / "ca.pem")


class Mail:
    def __init__(self, mail_from, rcpt_tos, data, login, tls):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data  # bytes as received (dot-unstuffed)
        self.msg = email.message_from_bytes(data, policy=email.policy.default)
        self.login = login
        self.tls = tls

    def text(self):
        return self.msg.get_content()


class SmtpReceiver:
    def __init__(self, certdir, user, password):
        self.cv = threading.Condition()
        self.mails = []
        self.refused = 0
        self.failing = None
        self.auth_failures = 0
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(certdir / "server.pem"), str(certdir / "server.key"))
        rec = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                with rec.cv:
                    if rec.failing:
                        rec.refused += 1
                        rec.cv.notify_all()
                        return rec.failing
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                login = session.auth_data.decode() if session.authenticated else None
                m = Mail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content,
                         login, session.ssl is not None)
                with rec.cv:
                    rec.mails.append(m)
                    rec.cv.notify_all()
                return "250 Message accepted for delivery"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user.encode() and auth_data.password == password.encode()
            if not ok:
                with rec.cv:
                    rec.auth_failures += 1
            return AuthResult(success=ok, auth_data=auth_data.login if ok else None)

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     tls_context=ctx, require_starttls=True,
                                     authenticator=authenticator, auth_required=True,
                                     auth_require_tls=True)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def fail(self, reply="451 4.3.0 Try again later"):
        with self.cv:
            self.failing = reply

    def ok(self):
        with self.cv:
            self.failing = None

    def close(self):
        self.controller.stop()
