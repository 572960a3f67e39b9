"""Privacy claims of PRIVACY.md that no other test covers: a lookup never leaves the machine."""
import json
import socket

from support.servers import compile_fixture, create_project
from support.wsgi import call


def test_a_lookup_opens_no_network_connection(tmp_path, monkeypatch):
    """The whole serving app, built as gunicorn builds it, answers /api with every socket
    connection and name lookup forbidden: nothing about the visitor goes to a third party."""
    from visitorapi.wsgi import create_app
    state = tmp_path / "state.sqlite3"
    pid = create_project(state, ["example.com"])
    environ = {"VISITORAPI_STATE": str(state), "VISITORAPI_DB": str(compile_fixture(tmp_path)),
               "VISITORAPI_HTTPS": "off", "VISITORAPI_RUN_DIR": str(tmp_path / "run"),
               "VISITORAPI_LOG_LEVEL": "critical"}
    app = create_app(environ)
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network use is forbidden in this test")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    reply = call(app, "/api/", f"pid={pid}", remote_addr="198.51.100.7",
                 headers={"Origin": "https://example.com", "User-Agent": "Mozilla/5.0"})
    assert reply.status == 200
    assert json.loads(reply.body)["data"]["countryCode"] == "FR"
    assert attempts == []


def test_every_test_privacy_md_cites_exists():
    """PRIVACY.md backs each claim with a test: each one it names must exist."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", (root / "PRIVACY.md").read_text())
    assert len(cited) >= 10
    missing = [f"{path}::{name}" for path, name in cited
               if not re.search(rf"^def {name}\(", (root / path).read_text(), re.MULTILINE)]
    assert not missing
