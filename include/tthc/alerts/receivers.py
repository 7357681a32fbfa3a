"""Local alert receivers for tests and for trying the channels: a real SMTP server (aiosmtpd) and a
real HTTP server that collect what arrives.

    python -m tthc.alerts.receivers        # prints the env to export, then every email/webhook received

aiosmtpd is a development dependency (requirements-dev.txt).
"""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ReceivedEmail:
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    body: str          # the decoded HTML/plain part
    raw: bytes


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict
    json: dict


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalReceivers:
    """Start with `with LocalReceivers() as r:`; r.smtp_conn_uri and r.webhook_url(path) to configure."""

    emails: list[ReceivedEmail] = field(default_factory=list)
    webhooks: list[ReceivedWebhook] = field(default_factory=list)
    http_status: int = 200          # what the webhook endpoint answers (set 500 to simulate a broken relay)

    def __enter__(self) -> "LocalReceivers":
        from aiosmtpd.controller import Controller

        receivers = self

        class SmtpHandler:
            async def handle_DATA(self, server, session, envelope):
                msg = email.message_from_bytes(envelope.content, policy=policy.default)
                part = msg.get_body(("html", "plain"))
                receivers.emails.append(ReceivedEmail(envelope.mail_from, list(envelope.rcpt_tos), str(msg["Subject"]),
                                                      part.get_content() if part else "", envelope.content))
                return "250 Message accepted for delivery"

        self.smtp_port = free_port()
        self._smtp = Controller(SmtpHandler(), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()

        class HttpHandler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc = json.loads(body.decode("utf-8"))
                except ValueError:
                    doc = {"_raw": body.decode("utf-8", "replace")}
                receivers.webhooks.append(ReceivedWebhook(self.path, dict(self.headers), doc))
                self.send_response(receivers.http_status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # quiet
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), HttpHandler)
        self.http_port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._smtp.stop()

    @property
    def smtp_conn_uri(self) -> str:
        """For AIRFLOW_CONN_SMTP_DEFAULT: plain SMTP, no TLS, no retries, a short timeout."""
        return (f"smtp://127.0.0.1:{self.smtp_port}?from_email=tthc-alerts%40localhost&disable_ssl=true"
                "&disable_tls=true&timeout=5&retry_limit=0")

    def webhook_url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def wait_for(self, emails: int = 0, webhooks: int = 0, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.emails) >= emails and len(self.webhooks) >= webhooks:
                return
            time.sleep(0.05)
        raise TimeoutError(f"expected {emails} email(s) and {webhooks} webhook(s) within {timeout}s, "
                           f"got {len(self.emails)} and {len(self.webhooks)}")


def main() -> None:
    with LocalReceivers() as r:
        print(f"export AIRFLOW_CONN_SMTP_DEFAULT='{r.smtp_conn_uri}'")
        print(f"export TTHC_ALERT_WEBHOOK_URL='{r.webhook_url()}' TTHC_ALERT_EMAILS='ops@localhost'")
        print("Waiting for alerts (Ctrl-C to stop) ...", flush=True)
        seen_e = seen_w = 0
        try:
            while True:
                time.sleep(0.5)
                for m in r.emails[seen_e:]:
                    print(f"\n=== EMAIL to {', '.join(m.rcpt_tos)}: {m.subject}\n{m.body}", flush=True)
                for w in r.webhooks[seen_w:]:
                    print(f"\n=== WEBHOOK {w.path}\n{json.dumps(w.json, ensure_ascii=False, indent=2)}", flush=True)
                seen_e, seen_w = len(r.emails), len(r.webhooks)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
