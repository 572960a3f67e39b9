"""VISITORAPI_* settings: defaults, and a clear error naming each bad variable."""
import datetime
import ipaddress

import pytest

from visitorapi.config import ConfigError, Settings, load_settings

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def test_defaults(tmp_path):
    settings = load_settings({"VISITORAPI_STATE": str(tmp_path / "s.db"),
                              "XDG_CACHE_HOME": str(tmp_path)}, now=NOW)
    assert settings.db_is_default and settings.db_path.parent == tmp_path / "visitorapi"
    assert settings.https == "auto" and settings.trusted_proxies == ()
    assert settings.security_expires == NOW + datetime.timedelta(days=180)


def test_values_are_parsed(tmp_path):
    settings = load_settings({
        "VISITORAPI_DB": "/srv/city.vdb", "VISITORAPI_TRUSTED_PROXIES": "10.0.0.0/8, ::1 unix",
        "VISITORAPI_PROXY_HEADER": "Forwarded", "VISITORAPI_HTTPS": "require",
        "VISITORAPI_CLIENT_RATE": "2.5", "VISITORAPI_SECURITY_CONTACT": "https://x.test/sec",
        "VISITORAPI_SECURITY_EXPIRES": "2031-01-01T00:00:00Z"}, now=NOW)
    assert str(settings.db_path) == "/srv/city.vdb" and not settings.db_is_default
    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),
                                        ipaddress.ip_network("::1/128"))
    assert settings.trust_unix_socket and settings.proxy_header == "forwarded"
    assert settings.client_rate == 2.5 and settings.https == "require"


@pytest.mark.parametrize("name, value, fragment", [
    pytest.param("VISITORAPI_TRUSTED_PROXIES", "10.0.0.1/8", "not a CIDR", id="host-bits"),
    pytest.param("VISITORAPI_TRUSTED_PROXIES", "everyone", "not a CIDR", id="word"),
    pytest.param("VISITORAPI_HTTPS", "yes", "must be one of", id="https"),
    pytest.param("VISITORAPI_PROXY_HEADER", "x-real-ip", "must be one of", id="proxy-header"),
    pytest.param("VISITORAPI_CLIENT_RATE", "fast", "not a number", id="rate-word"),
    pytest.param("VISITORAPI_CLIENT_RATE", "-1", ">= 0", id="rate-negative"),
    pytest.param("VISITORAPI_CLIENT_RATE", "nan", "finite", id="rate-nan"),
    pytest.param("VISITORAPI_CLIENT_BURST", "0", ">= 1", id="burst-zero"),
    pytest.param("VISITORAPI_HSTS_MAX_AGE", "1.5", "whole number", id="hsts-float"),
    pytest.param("VISITORAPI_SECURITY_CONTACT", "sec@example.com", "mailto:", id="contact-no-scheme"),
    pytest.param("VISITORAPI_SECURITY_EXPIRES", "next year", "ISO 8601", id="expires-word"),
    pytest.param("VISITORAPI_SECURITY_EXPIRES", "2020-01-01", "in the past", id="expires-past"),
    pytest.param("VISITORAPI_DEMO_PID", "has space", "not a project id", id="demo-pid"),
    pytest.param("VISITORAPI_DB_CHECK_INTERVAL", "0", ">= 0.05", id="check-interval"),
    pytest.param("VISITORAPI_TRUSTED_PROXIES", "0.0.0.0/0", "VISITORAPI_TRUSTED_PROXIES_FORCE=1",
                 id="proxies-everyone-v4"),
    pytest.param("VISITORAPI_TRUSTED_PROXIES", "::/0", "VISITORAPI_TRUSTED_PROXIES_FORCE=1",
                 id="proxies-everyone-v6"),
    pytest.param("VISITORAPI_TRUSTED_PROXIES", "::ffff:0:0/96", "large part of the internet",
                 id="proxies-every-mapped-v4"),
    pytest.param("VISITORAPI_TRUSTED_PROXIES", "128.0.0.0/1", "large part of the internet",
                 id="proxies-half-the-internet"),
    pytest.param("VISITORAPI_TRUSTED_PROXIES_FORCE", "maybe", "must be 1 or 0", id="force-word"),
    pytest.param("VISITORAPI_PUBLIC_URL", "http://api.example.com", "https origin", id="url-http"),
    pytest.param("VISITORAPI_PUBLIC_URL", "https://api.example.com/v1", "without path",
                 id="url-path"),
    pytest.param("VISITORAPI_PUBLIC_URL", "https://u@api.example.com", "without path",
                 id="url-user"),
    pytest.param("VISITORAPI_PUBLIC_URL", "https://api.example.com:99999", "https origin",
                 id="url-port"),
    pytest.param("VISITORAPI_PUBLIC_URL", "https://", "https origin", id="url-no-host"),
    pytest.param("VISITORAPI_HSTS_PRELOAD", "1", "INCLUDE_SUBDOMAINS=1", id="preload-alone"),
    pytest.param("VISITORAPI_SECURITY_POLICY", "http://x.test/p", "https:// URL", id="policy-http"),
    pytest.param("VISITORAPI_SECURITY_ACKNOWLEDGMENTS", "https://x.test/a b", "https:// URL",
                 id="acknowledgments-space"),
    pytest.param("VISITORAPI_SECURITY_LANGUAGES", "english!", "language tags", id="languages"),
    pytest.param("VISITORAPI_SECURITY_LANGUAGES", ",", "language tags", id="languages-empty"),
    pytest.param("VISITORAPI_HSTS_INCLUDE_SUBDOMAINS", "sure", "must be 1 or 0", id="subdomains"),
])
def test_bad_values_name_the_variable(name, value, fragment):
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value}, now=NOW)
    message = str(caught.value)
    assert name in message and fragment in message


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        load_settings({"VISITORAPI_HTTPS": "x", "VISITORAPI_CLIENT_RATE": "y"}, now=NOW)
    assert "VISITORAPI_HTTPS" in str(caught.value) and "VISITORAPI_CLIENT_RATE" in str(caught.value)


def test_every_setting_is_documented_in_the_configuration_table():
    """Each VISITORAPI_* variable config.py reads has a row in docs/configuration.md's table."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    source = (root / "visitorapi" / "config.py").read_text(encoding="utf-8")
    table = "".join(line for line in (root / "docs" / "configuration.md").read_text(
        encoding="utf-8").splitlines(True) if line.startswith("| `VISITORAPI_"))
    names = set(re.findall(r'"(VISITORAPI_[A-Z_]+)"', source))
    assert len(names) > 10
    assert not {name for name in names if f"`{name}`" not in table}


def test_the_state_path_comes_from_the_environment_given_never_the_process(monkeypatch, tmp_path):
    monkeypatch.setenv("VISITORAPI_STATE", "/process/state.sqlite3")
    monkeypatch.setenv("XDG_DATA_HOME", "/process/xdg")
    given = {"VISITORAPI_STATE": str(tmp_path / "x.sqlite3")}
    assert load_settings(given).state_path == tmp_path / "x.sqlite3"
    xdg = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert load_settings(xdg).state_path == tmp_path / "xdg" / "visitorapi" / "state.sqlite3"


@pytest.mark.parametrize("environ, expected", [
    pytest.param({"VISITORAPI_RUN_DIR": "/run/v"}, "/run/v", id="run-dir"),
    pytest.param({"XDG_RUNTIME_DIR": "/run/user/7"}, "/run/user/7/visitorapi", id="xdg-runtime"),
])
def test_run_dir_and_update_limit_are_settings(environ, expected):
    settings = load_settings({**environ, "VISITORAPI_UPDATE_MAX_BYTES": "5000"})
    assert str(settings.run_dir) == expected and settings.update_max_bytes == 5000


def test_every_unset_variable_gives_the_settings_default():
    settings = load_settings({})
    for name in ("https", "hsts_max_age", "client_rate", "client_burst", "project_rate",
                 "project_burst", "rate_key_lifetime", "db_check_interval", "usage_flush_seconds",
                 "usage_retention_days", "metrics_allow", "metrics_interval", "db_max_age_days",
                 "log_format", "log_level", "update_max_bytes", "proxy_header", "metrics_dir"):
        assert getattr(settings, name) == getattr(Settings, name), name


def test_catch_all_proxies_need_force_and_public_ones_warn():
    forced = load_settings({"VISITORAPI_TRUSTED_PROXIES": "0.0.0.0/0 ::/0",
                            "VISITORAPI_TRUSTED_PROXIES_FORCE": "1"}, now=NOW)
    assert [str(n) for n in forced.trusted_proxies] == ["0.0.0.0/0", "::/0"]
    private = load_settings({"VISITORAPI_TRUSTED_PROXIES": "10.0.0.0/8 fc00::/7 ::1"}, now=NOW)
    assert private.warnings == ()
    public = load_settings({"VISITORAPI_TRUSTED_PROXIES": "10.0.0.0/8 8.8.8.0/24"}, now=NOW)
    assert len(public.warnings) == 1 and "8.8.8.0/24 is a public network" in public.warnings[0]


@pytest.mark.parametrize("raw, origin", [
    pytest.param("https://API.example.com", "https://api.example.com", id="lowercased"),
    pytest.param("https://api.example.com:443/", "https://api.example.com", id="default-port"),
    pytest.param("https://api.example.com:8443", "https://api.example.com:8443", id="port"),
    pytest.param("https://[2001:db8::1]", "https://[2001:db8::1]", id="ipv6"),
])
def test_public_url_is_kept_as_an_origin(raw, origin):
    assert load_settings({"VISITORAPI_PUBLIC_URL": raw}, now=NOW).public_url == origin


@pytest.mark.parametrize("env, value", [
    pytest.param({}, "max-age=31536000", id="default"),
    pytest.param({"VISITORAPI_HSTS_INCLUDE_SUBDOMAINS": "1"}, "max-age=31536000; includeSubDomains",
                 id="subdomains"),
    pytest.param({"VISITORAPI_HSTS_INCLUDE_SUBDOMAINS": "1", "VISITORAPI_HSTS_PRELOAD": "yes",
                  "VISITORAPI_HSTS_MAX_AGE": "63072000"},
                 "max-age=63072000; includeSubDomains; preload", id="preload"),
    pytest.param({"VISITORAPI_HSTS_MAX_AGE": "0"}, "", id="off"),
])
def test_hsts_value(env, value):
    assert load_settings(env, now=NOW).hsts == value
