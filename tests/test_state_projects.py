"""The projects store and its audit trail: every change audited in the same transaction."""
import re
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from visitorapi.domains import PatternError
from visitorapi.errors import OperatorError
from visitorapi.state import audit, db
from visitorapi.state import projects as store

ACTOR = "cli:tester"


@pytest.fixture
def conn(store_location):
    connection = db.connect(store_location, create=True)
    yield connection
    connection.close()


def test_create_stores_canonical_patterns_and_a_random_pid(conn):
    project = store.create(conn, "  Shop  ", ["HTTPS://Example.com:443", "faß.de", "example.com:8443"],
                           actor=ACTOR)
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", project.pid)
    assert project.name == "Shop"
    assert project.enabled
    assert project.domains == ("example.com:8443", "https://example.com", "xn--fa-hia.de")
    assert store.get(conn, project.pid) == project
    assert project.domains_reviewed_at == project.created_at


def test_pids_are_distinct():
    assert len({store.new_pid() for _ in range(1000)}) == 1000
    assert all(len(pid) == 20 and not pid.startswith("-") for pid in (store.new_pid() for _ in range(2000)))


def test_refused_pattern_creates_nothing(conn):
    with pytest.raises(PatternError, match="co.uk"):
        store.create(conn, "Shop", ["example.com", "*.co.uk"], actor=ACTOR)
    assert store.list_projects(conn) == []
    assert audit.entries(conn) == []


@pytest.mark.parametrize("name, message", [
    pytest.param("", "needs a name", id="empty"),
    pytest.param("   ", "needs a name", id="blank"),
    pytest.param("x" * 201, "limit is 200", id="long"),
    pytest.param("a\nb", "control character", id="newline"),
])
def test_bad_names_are_refused(conn, name, message):
    with pytest.raises(OperatorError, match=message):
        store.create(conn, name, ["example.com"], actor=ACTOR)


def test_every_change_is_audited_with_before_and_after(conn):
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    store.add_domain(conn, pid, "*.example.org", actor="dashboard:ops@example.com")
    store.remove_domain(conn, pid, "EXAMPLE.com", actor=ACTOR)
    store.set_enabled(conn, pid, False, actor=ACTOR)
    store.set_enabled(conn, pid, False, actor=ACTOR)       # no-op: no entry
    store.set_enabled(conn, pid, True, actor=ACTOR)
    store.mark_reviewed(conn, pid, actor=ACTOR)
    store.delete(conn, pid, actor=ACTOR)
    trail = audit.entries(conn, pid=pid)
    assert [(e.action, e.actor) for e in trail] == [
        ("project.created", ACTOR),
        ("domain.added", "dashboard:ops@example.com"),
        ("domain.removed", ACTOR),
        ("project.disabled", ACTOR),
        ("project.enabled", ACTOR),
        ("domains.reviewed", ACTOR),
        ("project.deleted", ACTOR),
    ]
    assert trail[0].before is None
    assert trail[0].after == {"name": "Shop", "enabled": True, "domains": ["example.com"]}
    assert trail[1].before == {"domains": ["example.com"]}
    assert trail[1].after == {"domains": ["*.example.org", "example.com"]}
    assert trail[2].after == {"domains": ["*.example.org"]}
    assert trail[3].before == {"enabled": True} and trail[3].after == {"enabled": False}
    assert trail[-1].before == {"name": "Shop", "enabled": True, "domains": ["*.example.org"]}
    assert trail[-1].after is None
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e.at) for e in trail)
    assert store.get(conn, pid) is None


def test_audit_survives_the_deleted_project_and_filters_by_pid(conn):
    first = store.create(conn, "A", ["a.test"], actor=ACTOR).pid
    second = store.create(conn, "B", ["b.test"], actor=ACTOR).pid
    store.delete(conn, first, actor=ACTOR)
    assert [e.action for e in audit.entries(conn, pid=first)] == ["project.created", "project.deleted"]
    assert [e.pid for e in audit.entries(conn)] == [first, second, first]
    assert [e.pid for e in audit.entries(conn, limit=1)] == [first]


@pytest.mark.parametrize("statement", [
    pytest.param("UPDATE audit_log SET actor = 'cli:mallory'", id="update"),
    pytest.param("DELETE FROM audit_log", id="delete"),
])
def test_audit_rows_cannot_be_edited_or_deleted(conn, statement):
    store.create(conn, "Shop", ["example.com"], actor=ACTOR)
    with pytest.raises(db.StoreError, match="append-only"):
        conn.execute(statement)
    assert len(audit.entries(conn)) == 1


def test_audit_append_refuses_to_run_outside_a_transaction(conn):
    with pytest.raises(ValueError, match="inside the transaction"):
        audit.append(conn, actor=ACTOR, action="project.created")
    with pytest.raises(ValueError, match="actor"):
        with db.transaction(conn):
            audit.append(conn, actor="", action="x")


def test_change_whose_audit_entry_fails_is_rolled_back(conn, monkeypatch):
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid

    def broken(*args, **kwargs):
        raise db.StoreError("disk I/O error")
    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(db.StoreError):
        store.add_domain(conn, pid, "other.test", actor=ACTOR)
    monkeypatch.undo()
    assert store.get(conn, pid).domains == ("example.com",)
    assert [e.action for e in audit.entries(conn)] == ["project.created"]


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda c, pid: store.add_domain(c, pid, "example.com", actor=ACTOR),
                 "already authorizes", id="add-duplicate"),
    pytest.param(lambda c, pid: store.add_domain(c, pid, "*.com", actor=ACTOR),
                 "top-level domain", id="add-refused"),
    pytest.param(lambda c, pid: store.remove_domain(c, pid, "other.test", actor=ACTOR),
                 "does not authorize 'other.test' \\(it has: example.com\\)", id="remove-absent"),
    pytest.param(lambda c, pid: store.add_domain(c, "nope", "x.test", actor=ACTOR),
                 "no project has pid 'nope'", id="unknown-pid"),
    pytest.param(lambda c, pid: store.delete(c, "bad pid!", actor=ACTOR),
                 "not a project id", id="malformed-pid"),
    pytest.param(lambda c, pid: store.add_domain(c, pid, "b.test", note="n" * 201, actor=ACTOR),
                 "domain note is 201 characters long; the limit is 200", id="add-long-note"),
    pytest.param(lambda c, pid: store.add_domain(c, pid, "b.test", note="a\nb", actor=ACTOR),
                 r"domain note contains a control character \(U\+000A\)", id="add-newline-note"),
    pytest.param(lambda c, pid: store.set_domain_note(c, pid, "example.com", "x\x1b[2J", actor=ACTOR),
                 r"\(U\+001B\); use one line of printable text", id="note-escape-sequence"),
    pytest.param(lambda c, pid: store.set_domain_note(c, pid, "example.com", "abc\u202egpj.exe",
                                                      actor=ACTOR),
                 r"\(U\+202E\)", id="note-bidi-override"),
    pytest.param(lambda c, pid: store.set_domain_note(c, pid, "example.com", None, actor=ACTOR),
                 "must be text", id="note-not-text"),
    pytest.param(lambda c, pid: store.set_domain_note(c, pid, "other.test", "x", actor=ACTOR),
                 "does not authorize 'other.test' \\(it has: example.com\\)", id="note-absent-domain"),
    pytest.param(lambda c, pid: store.set_domain_note(c, "nope", "example.com", "x", actor=ACTOR),
                 "no project has pid 'nope'", id="note-unknown-pid"),
])
def test_bad_changes_say_what_is_wrong(conn, call, message):
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    with pytest.raises(OperatorError, match=message):
        call(conn, pid)
    assert len(audit.entries(conn)) == 1


def test_domain_notes_are_stored_audited_and_kept_by_the_trail(conn):
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    added = store.add_domain(conn, pid, "HTTPS://Staging.Example.com",
                             note="  staging site, owner: Ana  ", actor=ACTOR)
    assert added.domain_notes == (("https://staging.example.com", "staging site, owner: Ana"),)
    assert added.note("https://staging.example.com") == "staging site, owner: Ana"
    assert added.note("example.com") == ""
    noted = store.set_domain_note(conn, pid, "EXAMPLE.com", "prod, owner: Bo", actor=ACTOR)
    assert noted.note("example.com") == "prod, owner: Bo"
    assert store.set_domain_note(conn, pid, "example.com", "prod, owner: Bo ", actor=ACTOR) == noted
    assert store.list_projects(conn) == [noted] == [store.get(conn, pid)]
    assert noted.as_dict()["domain_notes"] == {"example.com": "prod, owner: Bo",
                                               "https://staging.example.com": "staging site, owner: Ana"}
    cleared = store.set_domain_note(conn, pid, "example.com", "", actor=ACTOR)
    assert cleared.domain_notes == (("https://staging.example.com", "staging site, owner: Ana"),)
    store.remove_domain(conn, pid, "https://staging.example.com", actor=ACTOR)
    store.add_domain(conn, pid, "b.test", note="ünïcödé ✓ 🙂", actor=ACTOR)
    store.delete(conn, pid, actor=ACTOR)
    trail = audit.entries(conn, pid=pid)
    assert [e.action for e in trail] == [
        "project.created", "domain.added", "domain.note_changed", "domain.note_changed",
        "domain.removed", "domain.added", "project.deleted"]  # the no-op set wrote nothing
    assert trail[1].before == {"domains": ["example.com"]}
    assert trail[1].after == {"domains": ["example.com", "https://staging.example.com"],
                              "domain_notes": {"https://staging.example.com": "staging site, owner: Ana"}}
    assert trail[2].before == {"domain_notes": {"example.com": ""}}
    assert trail[2].after == {"domain_notes": {"example.com": "prod, owner: Bo"}}
    assert trail[3].before == trail[2].after and trail[3].after == trail[2].before
    assert trail[4].before == {"domains": ["example.com", "https://staging.example.com"],
                               "domain_notes": {"https://staging.example.com": "staging site, owner: Ana"}}
    assert trail[4].after == {"domains": ["example.com"]}
    assert trail[-1].before == {"name": "Shop", "enabled": True, "domains": ["b.test", "example.com"],
                                "domain_notes": {"b.test": "ünïcödé ✓ 🙂"}}


def _naive_note_ok(text: str) -> bool:
    """The rule, from the Unicode categories: no "Other" (Cc, Cf, Cs, Co, Cn), no separator
    but the plain space, at most 200 code points."""
    return len(text) <= 200 and all(
        ch == " " or unicodedata.category(ch)[0] not in "CZ" for ch in text)


@pytest.fixture(scope="module")
def noted_project(tmp_path_factory):
    connection = db.connect(tmp_path_factory.mktemp("notes") / "state.sqlite3", create=True)
    pid = store.create(connection, "Shop", ["example.com"], actor=ACTOR).pid
    yield connection, pid
    connection.close()


@given(st.one_of(st.text(max_size=230), st.text(alphabet="a\U0001F642 \u00a0\t", min_size=195,
                                                 max_size=205)))
def test_a_note_is_stored_exactly_when_the_naive_rule_accepts_it(noted_project, note):
    conn, pid = noted_project
    before = store.get(conn, pid).note("example.com")
    try:
        project = store.set_domain_note(conn, pid, "example.com", note, actor=ACTOR)
    except OperatorError:
        assert not _naive_note_ok(note.strip())
        assert store.get(conn, pid).note("example.com") == before
    else:
        assert _naive_note_ok(note.strip())
        assert project.note("example.com") == note.strip() == store.get(conn, pid).note("example.com")


def test_an_old_store_upgraded_keeps_its_domains_with_empty_notes(store_location, monkeypatch):
    path = store_location
    available = db.available_migrations
    monkeypatch.setattr(db, "available_migrations", lambda engine=None: [
        m for m in available(engine) if m[0] < "0004_domain_notes"])
    old = db.connect(path, create=True)
    old.execute("INSERT INTO projects (pid, name, enabled, created_at, domains_reviewed_at)"
                " VALUES ('oldpid', 'Old shop', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    old.executemany("INSERT INTO project_domains (pid, pattern, added_at)"
                    " VALUES ('oldpid', ?, '2026-01-01T00:00:00Z')",
                    [("example.com",), ("*.example.org",)])
    with pytest.raises(db.StoreError, match="note"):
        old.execute("SELECT note FROM project_domains")
    old.close()
    monkeypatch.undo()

    conn = db.connect(path, create=True)
    try:
        assert "0004_domain_notes" in {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        project = store.require(conn, "oldpid")
        assert project.domains == ("*.example.org", "example.com")
        assert project.domain_notes == ()
        assert conn.execute("SELECT DISTINCT note FROM project_domains").fetchall() == [("",)]
        assert store.enabled_domains(conn)[1] == {"oldpid": ("*.example.org", "example.com")}
        noted = store.set_domain_note(conn, "oldpid", "example.com", "legacy", actor=ACTOR)
        assert noted.note("example.com") == "legacy"
        with pytest.raises(db.IntegrityError, match="(?i)check"):   # the schema's own limit
            conn.execute("UPDATE project_domains SET note = ? WHERE pattern = 'example.com'",
                         ("x" * 201,))
    finally:
        conn.close()


def test_review_due_after_90_days():
    project = store.Project("p", "n", True, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", ())
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert not project.review_due(start + timedelta(days=90))
    assert project.review_due(start + timedelta(days=90, seconds=1))


def test_revision_moves_on_every_change_and_enabled_domains_hides_disabled(conn):
    seen = [store.read_revision(conn)]
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    seen.append(store.read_revision(conn))
    store.add_domain(conn, pid, "b.test", actor=ACTOR)
    seen.append(store.read_revision(conn))
    store.set_enabled(conn, pid, False, actor=ACTOR)
    seen.append(store.read_revision(conn))
    assert seen == sorted(set(seen))
    revision, domains = store.enabled_domains(conn)
    assert revision == seen[-1] and domains == {}
    store.set_enabled(conn, pid, True, actor=ACTOR)
    other = store.create(conn, "Empty", [], actor=ACTOR).pid
    assert store.enabled_domains(conn)[1] == {pid: ("b.test", "example.com"), other: ()}
