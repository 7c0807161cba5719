"""Email: the outbox view (what to send, from identity and organization events) and the
sender that delivers it."""

from __future__ import annotations

from application.identity import IdentityApplication
from application.notifications import Notifier
from application.organizations import OrganizationsApplication
from application.ports import Mailer
from infra.contexts.base import ContextParts, Shared
from infra.mail.mailers import MailboxMailer, SmtpMailer
from infra.mail.sender import OutboxSender
from infra.settings import Settings
from projections.outbox import OutboxView


def mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return MailboxMailer(settings.data_dir / "mailbox", settings.mail_from)


def build(shared: Shared) -> ContextParts:
    notifier = Notifier(
        shared.get("identity", IdentityApplication),
        shared.get("organizations", OrganizationsApplication),
        base_url=shared.settings.base_url,
        signer=shared.signer,
    )
    sender = OutboxSender(
        shared.db,
        shared.mailer or mailer(shared.settings),
        shared.metrics,
        shared.locks("outbox-sender"),
        shared.clock,
    )
    return ContextParts(
        views=[OutboxView(notifier.emails_for)],
        workers=[sender],
        singletons={"outbox-sender": sender.lock},
        services={"outbox": sender},
    )
