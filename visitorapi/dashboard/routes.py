"""Every dashboard page: method, path (under the prefix), handler, access level.

Path groups become the handler's keyword arguments. A pid in a path has
the pid's own form, so nothing else reaches a handler.
"""
from visitorapi import pids
from visitorapi.dashboard import auditlog, login, notifications, projects, security, users

# Access levels a route can ask for (checked by DashboardApp.check_access).
PRE_LOGIN = "pre-login"  # anonymous session (made on GET), for the login form
SECOND_FACTOR = "second-factor"  # password given, code pending
ENROLL = "enroll"  # logged in, allowed even while an owner-required MFA is not set up
USER = "user"  # logged in (and enrolled if MFA is required)
OWNER = "owner"

_PID = f"(?P<pid>{pids.PATTERN})"

ROUTES = (
    ("GET", "/login", login.show_login, PRE_LOGIN),
    ("POST", "/login", login.submit_login, PRE_LOGIN),
    ("GET", "/login/code", login.show_code, SECOND_FACTOR),
    ("POST", "/login/code", login.submit_code, SECOND_FACTOR),
    ("POST", "/logout", login.logout, ENROLL),
    ("GET", "/reauth", login.show_reauth, ENROLL),
    ("POST", "/reauth", login.submit_reauth, ENROLL),

    ("GET", "/projects", projects.show_list, USER),
    ("POST", "/projects", projects.create, USER),
    ("GET", f"/projects/{_PID}", projects.show, USER),
    ("POST", f"/projects/{_PID}/domains/add", projects.add_domain, USER),
    ("POST", f"/projects/{_PID}/domains/remove", projects.remove_domain, USER),
    ("POST", f"/projects/{_PID}/domains/note", projects.set_domain_note, USER),
    ("POST", f"/projects/{_PID}/disable", projects.disable, USER),
    ("POST", f"/projects/{_PID}/enable", projects.enable, USER),
    ("POST", f"/projects/{_PID}/delete", projects.delete, USER),
    ("POST", f"/projects/{_PID}/reviewed", projects.reviewed, USER),
    ("GET", "/audit", auditlog.show, USER),
    ("GET", "/notifications", notifications.show, USER),
    ("POST", "/notifications/choices", notifications.save_choices, USER),
    ("POST", "/notifications/webhooks/add", notifications.add_webhook, USER),
    ("POST", "/notifications/webhooks/remove", notifications.remove_webhook, USER),
    ("POST", "/notifications/notice", notifications.publish, OWNER),

    ("GET", "/security", security.show, ENROLL),
    ("POST", "/security/password", security.change_password, ENROLL),
    ("GET", "/security/mfa", security.show_enroll, ENROLL),
    ("POST", "/security/mfa", security.confirm_enroll, ENROLL),
    ("POST", "/security/mfa/disable", security.disable_mfa, ENROLL),
    ("POST", "/security/recovery-codes", security.new_recovery_codes, ENROLL),
    ("POST", "/security/sessions/revoke", security.revoke_session, ENROLL),

    ("GET", "/users", users.show, OWNER),
    ("POST", "/users/create", users.create, OWNER),
    ("POST", "/users/update", users.update, OWNER),
    ("POST", "/users/grant", users.grant, OWNER),
    ("POST", "/users/require-mfa", users.require_mfa, OWNER),
)
