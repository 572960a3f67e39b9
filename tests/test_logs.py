"""Operational logs: one JSON object per line (or text), no visitor data, gunicorn too."""
import io
import json
import logging

import pytest

from visitorapi import logs
from visitorapi.config import ConfigError, log_settings

from conftest import run_cli


@pytest.fixture
def capture():
    """Log through a fresh logger into a string with the given format."""
    def emit(fmt, level, message, *args, exc=None, **extra):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logs.formatter(fmt))
        logger = logging.getLogger("visitorapi.test_logs")
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.log(level, message, *args, extra=extra, exc_info=exc)
        return stream.getvalue()
    return emit


def test_json_line_has_time_level_event_project_and_extras(capture):
    out = capture("json", logging.WARNING, "database is %d days old", 50,
                  event="db.stale", pid="AbC123", age_days=50)
    assert out.count("\n") == 1
    line = json.loads(out)
    assert line["level"] == "warning"
    assert line["event"] == "db.stale"
    assert line["project"] == "AbC123"
    assert line["message"] == "database is 50 days old"
    assert line["age_days"] == 50
    assert "pid" not in line
    assert line["time"].endswith("Z") and line["time"][10] == "T"


def test_json_without_event_uses_the_logger_name_and_omits_project(capture):
    line = json.loads(capture("json", logging.INFO, "hello"))
    assert line["event"] == "visitorapi.test_logs"
    assert "project" not in line


def test_exception_stays_on_one_line(capture):
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError as exc:
        out = capture("json", logging.ERROR, "failed", exc=exc, event="x.failed")
    assert out.count("\n") == 1
    assert "RuntimeError: boom" in json.loads(out)["exception"]


def test_message_newlines_cannot_forge_a_second_line(capture):
    out = capture("json", logging.INFO, "a\n{\"level\": \"error\"}")
    assert out.count("\n") == 1


@pytest.mark.parametrize("field", sorted(logs.VISITOR_FIELDS))
def test_visitor_fields_are_never_written(capture, field):
    for fmt in logs.FORMATS:
        out = capture(fmt, logging.INFO, "request", event="x", **{field: "CANARY-203.0.113.9"})
        assert "CANARY" not in out


def test_text_format(capture):
    out = capture("text", logging.WARNING, "refused", event="db.refused", pid="p1", path="/x.db")
    assert out.split()[1:] == ["WARNING", "db.refused", "project=p1", "refused", "path=/x.db"]


@pytest.mark.parametrize("env, message", [
    pytest.param({"VISITORAPI_LOG_FORMAT": "xml"}, "VISITORAPI_LOG_FORMAT='xml' must be",
                 id="format"),
    pytest.param({"VISITORAPI_LOG_LEVEL": "loud"}, "VISITORAPI_LOG_LEVEL='loud' must be",
                 id="level"),
])
def test_bad_settings_are_named(env, message):
    with pytest.raises(ConfigError, match=message):
        log_settings(env)
    result = run_cli("usage", "--days", "1", env=env)
    assert result.returncode == 1
    assert message in result.stderr


def test_configure_is_idempotent_and_honours_the_environment(monkeypatch):
    monkeypatch.setenv("VISITORAPI_LOG_FORMAT", "text")
    monkeypatch.setenv("VISITORAPI_LOG_LEVEL", "warning")
    root = logging.getLogger()
    level = root.level
    try:
        stream = io.StringIO()
        logs.configure(*log_settings(), stream=stream)
        logs.configure(*log_settings(), stream=stream)
        assert sum(h.get_name() == "visitorapi" for h in root.handlers) == 1
        logging.getLogger("visitorapi.x").info("quiet")
        logging.getLogger("visitorapi.x").warning("loud", extra={"event": "x.loud"})
        assert stream.getvalue().count("\n") == 1
        assert " WARNING x.loud loud" in stream.getvalue()
    finally:
        for handler in [h for h in root.handlers if h.get_name() == "visitorapi"]:
            root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("fmt, formatter", [("json", logs.JsonFormatter), ("text", logs.TextFormatter)])
def test_gunicorn_error_log_uses_our_format(monkeypatch, fmt, formatter):
    from gunicorn.config import Config
    from visitorapi.web.gunicorn_logger import PrivateLogger
    monkeypatch.setenv("VISITORAPI_LOG_FORMAT", fmt)
    root = logging.getLogger()
    level = root.level
    try:
        logger = PrivateLogger(Config())
        assert logger.error_log.handlers
        assert all(isinstance(h.formatter, formatter) for h in logger.error_log.handlers)
        assert any(h.get_name() == "visitorapi" for h in root.handlers)
    finally:
        for handler in [h for h in root.handlers if h.get_name() == "visitorapi"]:
            root.removeHandler(handler)
        root.setLevel(level)
