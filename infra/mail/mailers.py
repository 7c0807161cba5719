"""Mailer adapters: a mailbox folder of `.eml` files, or SMTP."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from application.ports import EmailMessage


def to_mime(message: EmailMessage, sender: str) -> MimeMessage:
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    # Stable Message-ID: a receiver can drop a duplicate delivery after a crash.
    mime["Message-ID"] = f"<{message.message_id}@tilde.local>"
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.body)
    return mime


class MailboxMailer:
    """Writes `<message id>.eml` into a folder (atomic rename; rewriting is idempotent)."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{message.message_id}.eml"
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(bytes(to_mime(message, self.sender)))
        tmp.replace(target)


class SmtpMailer:
    """smtp://user:pass@host:port[?starttls=1] or smtps://… (implicit TLS)."""

    def __init__(self, url: str, sender: str, *, timeout: float = 10.0) -> None:
        parsed = urlparse(url)
        self.host = parsed.hostname or "localhost"
        self.tls = parsed.scheme == "smtps"
        self.port = parsed.port or (465 if self.tls else 25)
        self.user = unquote(parsed.username or "")
        self.password = unquote(parsed.password or "")
        self.starttls = parse_qs(parsed.query).get("starttls", ["0"])[0] in ("1", "true", "yes")
        self.sender = sender
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        mime = to_mime(message, self.sender)
        smtp_class = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(mime)
