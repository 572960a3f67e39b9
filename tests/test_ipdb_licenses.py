"""Attribution that cannot be lost: known sources' notices are stored at compile time,
and a database built from one without any attribution is flagged wherever it is used."""
import json
import logging

import pytest

from conftest import run_cli
from visitorapi.dashboard.layout import attribution_html
from visitorapi.ipdb import open_database
from visitorapi.ipdb.compiler import compile_files
from visitorapi.ipdb.licenses import (DBIP, GEOLITE2, IP2LOCATION, identify, notice_for,
                                      unattributed_sources)
from visitorapi.web.livedb import open_checked

# ip-location-db's country layout: shared by DB-IP, GeoLite2 and others, so
# only the file name tells whose data it is.
COUNTRY_CSV = "192.0.2.0,192.0.2.255,DE\n198.51.100.0,198.51.100.255,FR\n"
DBIP_CITY_CSV = "192.0.2.0,192.0.2.255,EU,DE,Berlin,Berlin,52.52,13.405\n"


@pytest.mark.parametrize("name, dialect, expected", [
    pytest.param("dbip-country-ipv4.csv.gz", "iplocation-country", DBIP, id="shipped-default"),
    pytest.param("/data/dbip-city-lite-2026-06.csv.gz", "dbip-city-lite", DBIP, id="dbip-city"),
    pytest.param(".download-x1y2", "dbip-city-lite", DBIP, id="dbip-by-dialect-alone"),
    pytest.param("countries.csv", "dbip-country-lite", DBIP, id="forced-dbip-format"),
    pytest.param("GeoLite2-City-Blocks-IPv4.csv", "geolite2-city", GEOLITE2, id="geolite2"),
    pytest.param("geolite2-country-ipv6.csv.gz", "iplocation-country", GEOLITE2,
                 id="geolite2-ip-location-db"),
    pytest.param("IP2LOCATION-LITE-DB11.CSV", "ip2location-db11", IP2LOCATION, id="ip2location"),
    pytest.param("my-ranges.csv", "iplocation-city", None, id="own-data"),
    pytest.param("/srv/dbip/ranges.csv", "iplocation-country", None, id="folder-name-ignored"),
])
def test_identify(name, dialect, expected):
    assert identify(name, dialect) == expected


def test_notice_for_names_each_known_source_once_in_file_order():
    files = [("GeoLite2-City-Blocks-IPv4.csv", "geolite2-city"),
             ("GeoLite2-City-Locations-en.csv", "geolite2-locations"),
             ("dbip-country-ipv4.csv.gz", "iplocation-country"),
             ("mine.csv", "iplocation-country")]
    assert notice_for(files) == f"{GEOLITE2.notice} {DBIP.notice}"
    assert notice_for([("mine.csv", "iplocation-country")]) is None


@pytest.mark.parametrize("metadata, expected", [
    pytest.param({"attribution": None, "sources": [{"name": "dbip-city-lite-2026-06.csv.gz",
                                                    "dialect": "dbip-city-lite"}]},
                 ["DB-IP Lite"], id="dbip-without-attribution"),
    pytest.param({"attribution": "  ", "sources": [{"name": "x.csv", "dialect": "ip2location-db1"}]},
                 ["IP2Location LITE"], id="blank-attribution"),
    pytest.param({"attribution": "by DB-IP", "sources": [{"name": "dbip-a.csv",
                                                          "dialect": "iplocation-country"}]},
                 [], id="attributed"),
    pytest.param({"attribution": None, "sources": [{"name": "mine.csv",
                                                    "dialect": "iplocation-city"}]},
                 [], id="own-data-needs-none"),
    pytest.param({}, [], id="no-metadata"),
])
def test_unattributed_sources(metadata, expected):
    assert unattributed_sources(metadata) == expected


def _compile(tmp_path, name, text, **kwargs):
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    output = tmp_path / (name + ".vdb")
    summary = compile_files([source], output, **kwargs)
    with open_database(output) as database:
        return database.metadata, summary, output


def test_compiling_dbip_data_stores_its_notice_without_being_asked(tmp_path):
    metadata, summary, _ = _compile(tmp_path, "dbip-country-lite-2026-06.csv", COUNTRY_CSV)
    assert metadata["attribution"] == summary["attribution"] == DBIP.notice
    metadata, _, _ = _compile(tmp_path, "city.csv", DBIP_CITY_CSV)  # the dialect is DB-IP's
    assert metadata["attribution"] == DBIP.notice


def test_an_explicit_attribution_wins_and_own_data_gets_none(tmp_path):
    metadata, _, _ = _compile(tmp_path, "dbip-x.csv", COUNTRY_CSV, attribution="Credit: DB-IP")
    assert metadata["attribution"] == "Credit: DB-IP"
    metadata, _, _ = _compile(tmp_path, "mine.csv", COUNTRY_CSV)
    assert metadata["attribution"] is None and unattributed_sources(metadata) == []


def test_compile_cli_prints_the_stored_attribution(tmp_path):
    source = tmp_path / "dbip-country-lite-2026-06.csv"
    source.write_text(COUNTRY_CSV, encoding="utf-8")
    result = run_cli("compile", source, "-o", tmp_path / "c.vdb")
    assert result.returncode == 0, result.stderr
    assert f"attribution stored: {DBIP.notice}" in result.stdout


def test_serving_and_info_warn_about_a_dbip_database_without_attribution(tmp_path, caplog):
    _, _, bare = _compile(tmp_path, "dbip-a.csv", COUNTRY_CSV, attribution="")
    _, _, credited = _compile(tmp_path, "dbip-b.csv", COUNTRY_CSV)
    with caplog.at_level(logging.WARNING, logger="visitorapi.web.livedb"):
        open_checked(credited).close()
        assert not caplog.records
        open_checked(bare).close()
    [warning] = [r for r in caplog.records if getattr(r, "event", None) == "db.attribution_missing"]
    assert str(bare) in warning.getMessage() and "DB-IP Lite" in warning.getMessage()

    result = run_cli("info", bare)
    assert result.returncode == 0 and json.loads(result.stdout)["attribution"] == ""
    assert "DB-IP Lite data but no attribution" in result.stderr
    result = run_cli("info", credited)
    assert result.returncode == 0 and result.stderr == ""


def test_the_dashboard_footer_links_the_dbip_notice_correctly():
    footer = str(attribution_html(DBIP.notice))
    assert '<a href="https://db-ip.com">https://db-ip.com</a>),' in footer
    assert ('<a href="https://creativecommons.org/licenses/by/4.0/">'
            'https://creativecommons.org/licenses/by/4.0/</a>)' in footer)
    assert 'href="https://db-ip.com)' not in footer and "4.0/)\"" not in footer
