"""``visitorapi projects ...`` and ``visitorapi audit``, driven through the real command line."""
import getpass
import json
import re

import pytest

from conftest import run_cli
from visitorapi.cli.audit import describe_change


def _create(*domains, name="Shop"):
    args = ["projects", "create", name]
    for domain in domains:
        args += ["--domain", domain]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    pid = result.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", pid)
    return pid


def _json(*args):
    result = run_cli(*args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_create_prints_only_the_pid_and_show_lists_canonical_domains(state_path):
    pid = _create("Example.com", "https://*.example.org", "faß.de")
    shown = _json("projects", "show", pid)
    assert shown["pid"] == pid and shown["name"] == "Shop" and shown["enabled"] is True
    assert shown["domains"] == ["example.com", "https://*.example.org", "xn--fa-hia.de"]
    assert shown["review_due"] is False
    text = run_cli("projects", "show", pid).stdout
    assert "status:    enabled" in text and "  xn--fa-hia.de" in text
    assert state_path.exists()


def test_create_without_domains_warns(state_path):
    result = run_cli("projects", "create", "Later")
    assert result.returncode == 0
    assert "no authorized domains" in result.stderr


def test_list_table_and_json(state_path):
    assert "no projects yet" in run_cli("projects", "list").stdout
    first = _create("a.test", name="First")
    second = _create("b.test", name="Second")
    run_cli("projects", "disable", second)
    table = run_cli("projects", "list").stdout.splitlines()
    assert table[0].split() == ["PID", "NAME", "STATUS", "REVIEWED", "DOMAINS"]
    assert first in table[1] and "enabled" in table[1] and "a.test" in table[1]
    assert second in table[2] and "disabled" in table[2]
    assert [p["pid"] for p in _json("projects", "list")] == [first, second]


def test_domain_add_remove_enable_disable_review_and_the_audit_trail(state_path):
    pid = _create("example.com")
    assert run_cli("projects", "domains", "add", pid, "HTTPS://Shop.Example.com").returncode == 0
    removed = run_cli("projects", "domains", "remove", pid, "EXAMPLE.COM")
    assert removed.returncode == 0 and "https://shop.example.com" in removed.stdout
    assert run_cli("projects", "disable", pid).stdout.strip() == f"project {pid} is disabled"
    assert run_cli("projects", "enable", pid).stdout.strip() == f"project {pid} is enabled"
    assert run_cli("projects", "review", pid).returncode == 0
    trail = _json("audit", pid)
    assert [e["action"] for e in trail] == ["project.created", "domain.added", "domain.removed",
                                           "project.disabled", "project.enabled", "domains.reviewed"]
    assert {e["actor"] for e in trail} == {f"cli:{getpass.getuser()}"}
    assert trail[1]["after"] == {"domains": ["example.com", "https://shop.example.com"]}
    table = run_cli("audit").stdout
    assert "domains: +https://shop.example.com" in table
    assert "enabled: true -> false" in table
    assert len(_json("audit", "--limit", "2")) == 2


@pytest.mark.parametrize("args, code, message", [
    pytest.param(["projects", "create", "Shop", "--domain", "*.co.uk"], 1,
                 "'*.co.uk' is a wildcard on the public suffix co.uk; authorize 'example.co.uk' "
                 "or '*.example.co.uk' instead", id="public-suffix-wildcard"),
    pytest.param(["projects", "create", "Shop", "--domain", "*"], 1, "every website", id="star"),
    pytest.param(["projects", "create", "Shop", "--domain", "https://x.test/path"], 1,
                 "write 'https://x.test'", id="path"),
    pytest.param(["projects", "create", ""], 1, "needs a name", id="empty-name"),
    pytest.param(["projects", "show", "nopenopenope"], 1, "no project has pid 'nopenopenope'",
                 id="unknown-pid"),
    pytest.param(["projects", "show", "bad pid"], 1, "not a project id", id="malformed-pid"),
    pytest.param(["projects", "domains", "add", "nopenopenope", "x.test"], 1, "no project has pid",
                 id="add-unknown-pid"),
    pytest.param(["projects", "enable", "nopenopenope"], 1, "no project has pid", id="enable-unknown"),
    pytest.param(["projects", "domains", "note", "nopenopenope", "x.test", "n"], 1,
                 "no project has pid", id="note-unknown-pid"),
    pytest.param(["projects", "domains", "note", "nopenopenope", "x.test"], 2,
                 "the following arguments are required: TEXT", id="note-missing-text"),
    pytest.param(["audit", "bad pid"], 1, "not a project id", id="audit-malformed-pid"),
    pytest.param(["projects"], 2, "SUBCOMMAND", id="no-subcommand"),
    pytest.param(["projects", "domains"], 2, "SUBCOMMAND", id="no-domains-subcommand"),
    pytest.param(["projects", "show"], 2, "required", id="missing-pid"),
    pytest.param(["projects", "list", "--format", "xml"], 2, "invalid choice", id="bad-format"),
    pytest.param(["audit", "--limit", "0"], 2, "not a positive", id="bad-limit"),
])
def test_errors_exit_1_for_refusals_and_2_for_usage(state_path, args, code, message):
    result = run_cli(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_domain_notes_from_add_to_show_and_the_audit_trail(state_path):
    pid = _create("example.com")
    added = run_cli("projects", "domains", "add", pid, "HTTPS://Staging.Example.com",
                    "--note", "staging site, owner: Ana")
    assert added.returncode == 0, added.stderr
    for args, message in (
            (["add", pid, "b.test", "--note", "x" * 201],
             "domain note is 201 characters long; the limit is 200"),
            (["note", pid, "example.com", "tab\there"],
             "domain note contains a control character (U+0009); use one line of printable text")):
        refused = run_cli("projects", "domains", *args)
        assert refused.returncode == 1
        assert refused.stderr.strip() == f"visitorapi projects: error: {message}"
    noted = run_cli("projects", "domains", "note", pid, "EXAMPLE.com", "prod, owner: Bo")
    assert noted.stdout.strip() == f"project {pid}: note on example.com: prod, owner: Bo"
    text = run_cli("projects", "show", pid).stdout.splitlines()
    assert text[-2:] == ["  example.com                  prod, owner: Bo",
                         "  https://staging.example.com  staging site, owner: Ana"]
    shown = _json("projects", "show", pid)
    assert shown["domains"] == ["example.com", "https://staging.example.com"]  # no b.test
    assert shown["domain_notes"] == {"example.com": "prod, owner: Bo",
                                     "https://staging.example.com": "staging site, owner: Ana"}
    assert _json("projects", "list")[0]["domain_notes"] == shown["domain_notes"]
    cleared = run_cli("projects", "domains", "note", pid, "example.com", "")
    assert cleared.stdout.strip() == f"project {pid}: example.com has no note"
    assert run_cli("projects", "show", pid).stdout.splitlines()[-2] == "  example.com"
    trail = _json("audit", pid)
    assert [e["action"] for e in trail] == ["project.created", "domain.added",
                                           "domain.note_changed", "domain.note_changed"]
    assert trail[2]["after"] == {"domain_notes": {"example.com": "prod, owner: Bo"}}
    table = run_cli("audit", pid).stdout
    assert "domain_notes: {example.com: \"\" -> prod, owner: Bo}" in table
    assert ("domain_notes: {https://staging.example.com: staging site, owner: Ana}; "
            "domains: +https://staging.example.com") in table


@pytest.mark.parametrize("before, after, line", [
    pytest.param(None, {"name": "Shop", "domains": ["a.test"]}, "domains: a.test; name: Shop",
                 id="created"),
    pytest.param({"enabled": True}, {"enabled": False}, "enabled: true -> false", id="changed"),
    pytest.param({"domains": ["a.test"]}, {"domains": ["a.test", "b.test"],
                                           "domain_notes": {"b.test": "new site"}},
                 "domain_notes: {b.test: new site}; domains: +b.test", id="added-with-note"),
    pytest.param({"domain_notes": {"a.test": ""}}, {"domain_notes": {"a.test": "x"}},
                 'domain_notes: {a.test: "" -> x}', id="note-set"),
    pytest.param({"domains": ["a.test"], "domain_notes": {"a.test": "old"}}, {"domains": []},
                 "domain_notes: {a.test: old}; domains: -a.test", id="removed-with-note"),
    pytest.param({"name": "Shop", "domain_notes": {"a.test": "x"}}, None,
                 "domain_notes: {a.test: x}; name: Shop", id="deleted"),
])
def test_describe_change(before, after, line):
    assert describe_change(before, after) == line


def test_duplicate_and_absent_domains_are_errors(state_path):
    pid = _create("example.com")
    duplicate = run_cli("projects", "domains", "add", pid, "EXAMPLE.com")
    assert duplicate.returncode == 1 and "already authorizes 'example.com'" in duplicate.stderr
    absent = run_cli("projects", "domains", "remove", pid, "other.test")
    assert absent.returncode == 1 and "(it has: example.com)" in absent.stderr
    unnoted = run_cli("projects", "domains", "note", pid, "other.test", "x")
    assert unnoted.returncode == 1 and "(it has: example.com)" in unnoted.stderr


def test_delete_asks_first_and_keeps_the_audit_trail(state_path):
    pid = _create("example.com")
    refused = run_cli("projects", "delete", pid, input="")
    assert refused.returncode == 1 and "not deleted" in refused.stderr
    declined = run_cli("projects", "delete", pid, input="n\n")
    assert declined.returncode == 1
    assert run_cli("projects", "show", pid).returncode == 0
    confirmed = run_cli("projects", "delete", pid, input="y\n")
    assert confirmed.returncode == 0 and "[y/N]" in confirmed.stderr
    assert run_cli("projects", "show", pid).returncode == 1
    other = _create("other.test")
    assert run_cli("projects", "delete", other, "--yes").returncode == 0
    assert [e["action"] for e in _json("audit", pid)] == ["project.created", "project.deleted"]
