"""The SMTP server of the mail tests (started by tests/api/smtp.rs): aiosmtpd's Maildir
handler, plus a refusal list. While the file named by `SMTP_SINK_REFUSE` lists an address,
`RCPT TO` for it is answered `550` (a refused recipient); remove the file and the address
is accepted."""

import os

from aiosmtpd.handlers import Mailbox


class RefusingMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refuse = os.environ.get("SMTP_SINK_REFUSE", "")
        if refuse and os.path.exists(refuse):
            with open(refuse, encoding="utf-8") as listed:
                if address.lower() in (line.strip().lower() for line in listed):
                    return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"
