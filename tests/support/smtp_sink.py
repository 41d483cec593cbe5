#!/usr/bin/env python3
"""A real SMTP server for the end-to-end tests (aiosmtpd), keeping every message it accepts.

    smtp_sink.py PORT DIR

Each accepted message is written to DIR as one JSON file (recipients, subject, Message-ID,
text and HTML bodies) before the server answers 250, renamed into place so that a reader never
sees half a file and a kill -9 loses nothing it acknowledged. A recipient whose local part
starts with `reject` is refused with 550 (a permanent failure); one whose local part starts
with `defer` is answered 451 (try again later) until a file named `.accept-deferred` appears in
DIR, then accepted like any other. A message to one whose local
part starts with `slow` is kept, and then answered only after a minute the first time its
Message-ID comes (at once when it comes again): a sender killed meanwhile never learns it was
accepted. Prints `ready` once listening.
"""

import asyncio
import json
import os
import sys
import time
import uuid
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.seen = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].startswith("reject"):
            return "550 5.1.1 no such user"
        if address.split("@")[0].startswith("defer") and not os.path.exists(os.path.join(self.directory, ".accept-deferred")):
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": message["Subject"],
            "message_id": message["Message-ID"],
            "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
        }
        name = f"{time.time_ns()}-{uuid.uuid4().hex}.json"
        partial = os.path.join(self.directory, "." + name)
        with open(partial, "w") as out:
            json.dump(record, out)
            out.flush()
            os.fsync(out.fileno())
        os.rename(partial, os.path.join(self.directory, name))
        first = record["message_id"] not in self.seen
        self.seen.add(record["message_id"])
        if first and any(r.split("@")[0].startswith("slow") for r in envelope.rcpt_tos):
            await asyncio.sleep(60)
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
