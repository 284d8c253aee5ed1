"""E-mail channel: one multipart (text + HTML) message per alert over SMTP (aiosmtplib).

One SMTP session per message (alerts are rare; a long-lived session would need keep-alive and
reconnect logic for no gain). `Message-ID` is derived from `Delivery.idempotency_key`, so a
redelivered alert carries the same id and mail systems can thread or drop the duplicate.

Failures are classified by the SMTP reply code:

    4xx reply (greylisting, mailbox busy, 451 local error)   RetryableDeliveryError
    5xx reply (550 no such user, 554 rejected, 535 auth)     PermanentDeliveryError
    all recipients refused                                   4xx among them: retryable; else permanent
    connection refused/reset, timeout, server disconnected   RetryableDeliveryError
    TLS certificate rejected, STARTTLS/AUTH not supported    PermanentDeliveryError (configuration)

When only some recipients are refused, the message went to the others: the send succeeds (a retry
would duplicate it for them) and one warning names the refused addresses and their replies.

The SSRF guard does not apply here: the SMTP host is the operator's relay, not a user-supplied URL.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import ssl
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib.response import SMTPResponse

from scoring.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from streams.notify.channel import Delivery
from streams.notify.channels.config import EmailConfig
from streams.notify.channels.render import describe, header_safe, html_body, subject, text

log = logging.getLogger("pulse.notifier")
# letters, digits and `-_+`: a dot-atom, without `=?` (an RFC 2047 encoded word) or quoting chars
_NOT_ATOM = re.compile(r"[^A-Za-z0-9_+-]+")


def message_id(idempotency_key: str, sender: str) -> str:
    """`<key@domain>` with the key made a valid dot-atom and the domain taken from the sender."""
    left = ".".join(p for p in (_NOT_ATOM.sub("-", part) for part in idempotency_key.split(".")) if p)
    domain = sender.rpartition("@")[2].strip(" >") or "pulse.invalid"
    domain = ".".join(p for p in (_NOT_ATOM.sub("-", part) for part in domain.split(".")) if p)
    return f"<{left or 'alert'}@{domain or 'pulse.invalid'}>"


def _by_code(where: str, code: int, said: str) -> DeliveryError:
    if 500 <= code < 600:
        return PermanentDeliveryError(f"{where}: SMTP {code} {said}", status=code)
    return RetryableDeliveryError(f"{where}: SMTP {code} {said}", status=code)


class EmailChannel:
    """Sends alerts as e-mail through one SMTP server. One send, no retries; failures classified."""

    kind = "email"

    def __init__(self, name: str, config: EmailConfig) -> None:
        self.name = name
        self.config = config
        self._password = config.resolve_password(name)

    def __repr__(self) -> str:
        return f"EmailChannel(name={self.name!r}, host={self.config.host!r})"

    def message(self, delivery: Delivery) -> EmailMessage:
        c = self.config
        view = describe(delivery.alert, account_url=c.account_url, route=delivery.route)
        msg = EmailMessage()
        msg["From"] = c.from_
        msg["To"] = ", ".join(c.to)
        msg["Subject"] = subject(view, c.subject_prefix)
        msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = message_id(delivery.idempotency_key, c.from_)
        msg["Auto-Submitted"] = "auto-generated"   # RFC 3834: no vacation auto-replies
        msg["X-Pulse-Alert-Id"] = header_safe(view.alert_id)
        msg.set_content(text(view))
        msg.add_alternative(html_body(view), subtype="html")
        return msg

    async def send(self, delivery: Delivery) -> None:
        c = self.config
        where = f"channel {self.name!r}: SMTP {c.host}:{c.port}"
        msg = self.message(delivery)
        try:
            async with asyncio.timeout(c.timeout * 3):  # bounds the whole session, not one reply
                refused = await self._session(msg, where)
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = [r.code for r in e.recipients]
            said = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in e.recipients)
            cls = RetryableDeliveryError if any(400 <= k < 500 for k in codes) else PermanentDeliveryError
            raise cls(f"{where}: every recipient refused ({said})", status=max(codes, default=None)) \
                from None
        except aiosmtplib.SMTPResponseException as e:
            raise _by_code(where, e.code, e.message) from None
        except aiosmtplib.SMTPNotSupported as e:
            raise PermanentDeliveryError(f"{where}: {e} (check starttls/tls/username)") from None
        except ssl.SSLCertVerificationError as e:
            raise PermanentDeliveryError(f"{where}: TLS certificate rejected: {e.verify_message}") \
                from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
            raise RetryableDeliveryError(f"{where}: {type(e).__name__}: {e}") from None
        if refused:
            log.warning("channel %r: alert %s delivered, but the SMTP server refused %s",
                        self.name, delivery.alert_id,
                        "; ".join(f"{rcpt} ({r.code} {r.message})" for rcpt, r in refused.items()))

    async def _session(self, msg: EmailMessage, where: str) -> dict[str, SMTPResponse]:
        c = self.config
        smtp = aiosmtplib.SMTP(hostname=c.host, port=c.port, timeout=c.timeout, use_tls=c.tls,
                               start_tls=False)
        async with smtp:
            await smtp.ehlo()
            if c.starttls:
                if not smtp.supports_extension("starttls"):
                    raise PermanentDeliveryError(
                        f"{where}: the server does not offer STARTTLS and starttls = true; use a "
                        f"server that does, tls = true (port 465), or starttls = false on a trusted "
                        f"network")
                await smtp.starttls()
            if self._password is not None and c.username:
                await smtp.login(c.username, self._password)
            refused, _ = await smtp.send_message(msg)
        return refused

    async def aclose(self) -> None:
        """Nothing to release: every send opens and closes its own SMTP session."""
