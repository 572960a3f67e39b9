"""Notifications: what each user is told and how, their webhooks, the delivery log,
and (owners) publishing a security notice to every user.

A user's choices apply to the projects they can see: the outbox only
addresses an event about a project to owners and to members granted it
(:func:`visitorapi.state.notifications.enqueue`). A webhook's secret is shown
once, when it is added. Owners see every delivery in the log; members their
own. Publishing a notice needs a recent re-authentication, like every
other change that reaches every account.
"""
import time

from visitorapi.dashboard.http import redirect
from visitorapi.dashboard.layout import (csrf_field, error_text, page, post_button, reauth_link,
                                         table)
from visitorapi.dashboard.markup import Html, join, render
from visitorapi.notify import webhook
from visitorapi.notify.events import KINDS, MAX_DETAILS, MAX_TITLE, publish_notice
from visitorapi.state import notifications
from visitorapi.http.errors import HTTPError

BACK = "/notifications"
LOG_LIMIT = 100


def show(ctx, error: str = "", status: int = 200, new_secret: Html = Html("")):
    return page(ctx, "Notifications", render(
        '{error}<section><h2>What you are told</h2>{choices}</section>'
        '<section><h2>Your webhooks</h2>{secret}{hooks}</section>'
        '{notice}<section><h2>Delivery log</h2>{log}</section>',
        error=error_text(error), choices=_choices_form(ctx), secret=new_secret,
        hooks=_webhooks_part(ctx), notice=_notice_part(ctx) if ctx.account.is_owner else Html(""),
        log=_log_part(ctx)), status)


def _choices_form(ctx) -> Html:
    chosen = notifications.subscriptions(ctx.conn, ctx.account.id)
    rows = join(render(
        '<tr><td>{label}</td>{boxes}</tr>', label=label,
        boxes=join(render('<td><input type="checkbox" name="{kind}.{channel}" value="1" '
                          'aria-label="{kind} by {channel}"{checked}></td>', kind=kind,
                          channel=channel,
                          checked=Html(" checked" if (kind, channel) in chosen else ""))
                   for channel in notifications.CHANNELS))
        for kind, label in KINDS.items())
    return render(
        '<p class="muted">For the projects you can see. Email goes to {email}. Security '
        'notices published by an owner reach every user by email and webhook whatever is '
        'chosen here.</p>'
        '<form method="post" action="{prefix}/notifications/choices">{csrf}'
        '<div class="scroll"><table><thead><tr><th>Event</th><th>Email</th><th>Webhooks</th>'
        '</tr></thead><tbody>{rows}</tbody></table></div>'
        '<button type="submit">Save</button></form>',
        email=ctx.account.email, prefix=ctx.prefix, csrf=csrf_field(ctx), rows=rows)


def _webhooks_part(ctx) -> Html:
    hooks = notifications.webhooks(ctx.conn, ctx.account.id)
    rows = [(hook.url, hook.created_at.replace("T", " ").replace("Z", ""),
             post_button(ctx, "/notifications/webhooks/remove", "Remove",
                         [("id", str(hook.id))], css="danger")) for hook in hooks]
    return table(("URL", "Added (UTC)", ""), rows, empty="No webhooks.") + render(
        '<form method="post" action="{prefix}/notifications/webhooks/add" class="row">{csrf}'
        '<label>URL (https://, or http:// on this machine) <input type="url" name="url" '
        'maxlength="{max}" required></label><button type="submit">Add webhook</button></form>'
        '<p class="muted">Each request is a JSON POST signed with the webhook\'s secret: '
        'X-Visitorapi-Signature is sha256= and the HMAC-SHA256 of the X-Visitorapi-Timestamp '
        'value, a dot and the body (docs/notifications.md).</p>',
        prefix=ctx.prefix, csrf=csrf_field(ctx), max=webhook.MAX_URL_LENGTH)


def _notice_part(ctx) -> Html:
    if not ctx.session.recently_reauthenticated(ctx.now):
        form = reauth_link(ctx, "to publish a security notice.")
    else:
        form = render(
            '<form method="post" action="{prefix}/notifications/notice" class="stack">{csrf}'
            '<label>Title <input type="text" name="title" maxlength="{max_title}" required>'
            '</label><label>Notice <textarea name="body" rows="6" maxlength="{max_body}" '
            'required></textarea></label><button type="submit">Send to every user</button>'
            '</form>', prefix=ctx.prefix, csrf=csrf_field(ctx), max_title=MAX_TITLE,
            max_body=MAX_DETAILS)
    return render('<section><h2>Publish a security notice</h2><p class="muted">Sent to every '
                  'active user by email and to their webhooks, and recorded in the audit log.'
                  '</p>{0}</section>', form)


def _log_part(ctx) -> Html:
    everyone = ctx.account.is_owner
    entries = notifications.delivery_log(ctx.conn, None if everyone else ctx.account.id,
                                         LOG_LIMIT)
    rows = [(entry.created_at.replace("T", " ").replace("Z", ""), entry.kind, entry.title,
             entry.pid or "", f"{entry.channel}: {entry.address}", _outcome(entry),
             entry.attempts, entry.last_error) for entry in entries]
    intro = render('<p class="muted">{0}, newest first (at most {1}). Times are UTC.</p>',
                   "Every user's deliveries" if everyone else "Your deliveries", LOG_LIMIT)
    return intro + table(("Time", "Kind", "Event", "Project", "To", "Outcome", "Attempts",
                          "Last error"), rows, empty="Nothing sent yet.")


def _outcome(entry) -> str:
    return {"pending": "waiting to retry" if entry.attempts else "queued",
            "sending": "sending", "sent": "delivered", "failed": "gave up"}[entry.state]


def save_choices(ctx):
    form = ctx.request.form()
    chosen = []
    for kind in KINDS:
        for channel in notifications.CHANNELS:
            if ctx.request.field(f"{kind}.{channel}", required=False, max_length=1) == "1":
                chosen.append((kind, channel))
    unknown = set(form) - {"csrf"} - {f"{k}.{c}" for k in KINDS for c in notifications.CHANNELS}
    if unknown:
        raise HTTPError(400, f"unknown form fields: {', '.join(sorted(unknown))}")
    notifications.set_subscriptions(ctx.conn, ctx.account.id, chosen)
    return redirect(f"{ctx.prefix}/notifications?done=settings")


def add_webhook(ctx):
    try:
        url = webhook.check_url(ctx.request.field("url", max_length=webhook.MAX_URL_LENGTH))
        hook = notifications.add_webhook(ctx.conn, ctx.account.id, url)
    except ValueError as error:
        return show(ctx, str(error).capitalize() + ".", 400)
    secret = render('<p class="notice" role="status">Webhook added. Its signing secret, shown '
                    'only now: <code>{0}</code></p>', hook.secret)
    return show(ctx, new_secret=secret)


def remove_webhook(ctx):
    try:
        webhook_id = int(ctx.request.field("id", max_length=20))
    except ValueError:
        raise HTTPError(400, "the webhook id is not a number") from None
    if not notifications.remove_webhook(ctx.conn, ctx.account.id, webhook_id):
        raise HTTPError(404, "You have no such webhook.")
    return redirect(f"{ctx.prefix}/notifications?done=settings")


def publish(ctx):
    ctx.require_reauth(BACK)
    body = ctx.request.field("body", max_length=MAX_DETAILS)
    try:
        if not body.strip():
            raise ValueError("write the notice itself, not only its title")
        publish_notice(ctx.conn, ctx.request.field("title", max_length=MAX_TITLE), body,
                       ctx.actor(), time.time())
    except ValueError as error:
        return show(ctx, str(error).capitalize() + ".", 400)
    return redirect(f"{ctx.prefix}/notifications?done=notice")
