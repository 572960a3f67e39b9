"""Email delivery over SMTP with STARTTLS (RFC 3207), standard library only.

The server's certificate is verified (the system's trust store, or
``VISITORAPI_SMTP_CAFILE``) before any password is sent. Plain SMTP is only
accepted towards a loopback relay (checked in :mod:`visitorapi.config`).
"""
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail (from ``VISITORAPI_SMTP_*``)."""
    host: str
    port: int = 587
    user: str = ""
    password: str = ""
    sender: str = ""
    starttls: bool = True
    cafile: str = ""


def compose(settings: SmtpSettings, recipient: str, subject: str, text: str) -> EmailMessage:
    """One plain-text message."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"   # RFC 3834: no auto-replies to this
    message.set_content(text)
    return message


def send(settings: SmtpSettings, message: EmailMessage, timeout: float = TIMEOUT_SECONDS) -> None:
    """Send one message.

    Raises:
        OSError: the server cannot be reached, or the TLS handshake failed.
        smtplib.SMTPException: the server refused (login, sender, recipient).
    """
    with smtplib.SMTP(settings.host, settings.port, timeout=timeout) as client:
        client.ehlo()
        if settings.starttls:
            context = ssl.create_default_context(cafile=settings.cafile or None)
            client.starttls(context=context)
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password)
        client.send_message(message)
