"""A throwaway SMTP server for vigilmon-notify's tests, built on aiosmtpd.

usage: smtp_sink.py PORT OUTDIR MODE [TLSMODE CERT KEY]

  MODE     accept | transient (451 to RCPT) | permanent (550 to RCPT)
  TLSMODE  starttls (STARTTLS required) | tls (implicit TLS from the first byte)

Every accepted message is parsed with Python's email package and written, atomically,
to OUTDIR/<n>.json: the envelope, the decoded headers and every leaf part. The server
runs until its stdin closes (the test holds the other end).

Needs: python3 -m pip install aiosmtpd
"""

import email
import email.policy
import itertools
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller


def encrypted(server, session):
    """Whether the message came over TLS: STARTTLS sets session.ssl, implicit TLS shows
    on the transport."""
    if session.ssl is not None:
        return True
    transport = getattr(server, "transport", None)
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class Sink:
    def __init__(self, outdir, mode):
        self.outdir = outdir
        self.mode = mode
        self.seq = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "permanent":
            return "550 5.1.1 <%s>: no such user here" % address
        if self.mode == "transient":
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.seq)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = [
            {"content_type": p.get_content_type(), "content": p.get_content()}
            for p in msg.walk()
            if not p.is_multipart()
        ]
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": encrypted(server, session),
            "subject": str(msg.get("subject", "")),
            "from": str(msg.get("from", "")),
            "to": str(msg.get("to", "")),
            "message_id": str(msg.get("message-id", "")),
            "in_reply_to": str(msg.get("in-reply-to", "")),
            "content_type": msg.get_content_type(),
            "parts": parts,
        }
        tmp = os.path.join(self.outdir, ".%d.tmp" % n)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(self.outdir, "%d.json" % n))
        return "250 OK queued as test-%d" % n


def main():
    port, outdir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    kwargs = {}
    if len(sys.argv) > 4:
        tls_mode, cert, key = sys.argv[4], sys.argv[5], sys.argv[6]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if tls_mode == "starttls":
            kwargs = {"tls_context": ctx, "require_starttls": True}
        else:
            kwargs = {"ssl_context": ctx}
    controller = Controller(
        Sink(outdir, mode), hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs
    )
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
