"""Derived time zones (visitorapi.timezones) against the shipped table and a naive oracle."""
import datetime
import json
import math
import zoneinfo

import pytest
from hypothesis import given, strategies as st

from visitorapi import resources, timezones
from visitorapi.countries import all_countries

TABLE = json.loads(resources.data_path("timezones.json").read_text(encoding="utf-8"))["countries"]
SEVERAL_CLOCKS = sorted(code for code, entry in TABLE.items() if "whole_country" not in entry)


@pytest.mark.parametrize("country, latitude, longitude, zone", [
    pytest.param("DE", None, None, "Europe/Berlin", id="one-clock-two-zones"),
    pytest.param("DE", 47.69, 8.68, "Europe/Berlin", id="one-clock-ignores-coordinates"),
    pytest.param("JP", None, None, "Asia/Tokyo", id="one-zone"),
    pytest.param("XK", None, None, "Europe/Belgrade", id="kosovo-not-in-zone-tab"),
    pytest.param("US", 40.71, -74.0, "America/New_York", id="us-east"),
    pytest.param("US", 34.05, -118.24, "America/Los_Angeles", id="us-west"),
    pytest.param("AU", -31.95, 115.86, "Australia/Perth", id="perth"),
    pytest.param("RU", 55.75, 37.62, "Europe/Moscow", id="moscow"),
    pytest.param("ES", 28.1, -15.4, "Atlantic/Canary", id="canaries"),
    pytest.param("US", None, None, None, id="several-clocks-no-coordinates"),
    pytest.param("ZZ", 1.0, 1.0, None, id="unknown-country"),
    pytest.param(None, 52.5, 13.4, None, id="no-country"),
])
def test_derive(country, latitude, longitude, zone):
    assert timezones.derive(country, latitude, longitude) == zone


def _distance_km(lat1, lon1, lat2, lon2):
    """Oracle: chord length between unit vectors, a different formula from the module's."""
    def vector(lat, lon):
        lat, lon = math.radians(lat), math.radians(lon)
        return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))
    return math.dist(vector(lat1, lon1), vector(lat2, lon2)) * 6371.0


@given(st.sampled_from(SEVERAL_CLOCKS), st.floats(-90, 90), st.floats(-180, 180))
def test_several_clocks_take_the_nearest_reference_point(country, latitude, longitude):
    zones = TABLE[country]["zones"]
    distances = sorted((_distance_km(latitude, longitude, lat, lon), zone)
                       for zone, lat, lon in zones)
    derived = timezones.derive(country, latitude, longitude)
    best = distances[0][0]
    # Ties within a metre may go either way.
    assert derived in {zone for distance, zone in distances if distance - best < 1e-3}


def test_every_inhabited_country_has_a_zone_that_zoneinfo_knows():
    uninhabited = {"BV", "HM"}   # Bouvet Island, Heard & McDonald Islands: no zone.tab row
    assert set(all_countries()) - set(TABLE) == uninhabited
    for entry in TABLE.values():
        for zone, _, _ in entry["zones"]:
            zoneinfo.ZoneInfo(zone)


@pytest.mark.parametrize("zone, moment, offset", [
    pytest.param("Europe/Berlin", "2026-01-15T12:00:00+00:00", "+01:00", id="winter"),
    pytest.param("Europe/Berlin", "2026-07-15T12:00:00+00:00", "+02:00", id="summer"),
    pytest.param("Asia/Kolkata", "2026-07-15T12:00:00+00:00", "+05:30", id="half-hour"),
    pytest.param("Asia/Kathmandu", "2026-07-15T12:00:00+00:00", "+05:45", id="quarter-hour"),
    pytest.param("America/St_Johns", "2026-01-15T12:00:00+00:00", "-03:30", id="negative-half"),
    pytest.param("UTC", "2026-01-15T12:00:00+00:00", "+00:00", id="utc"),
    pytest.param("Not/AZone", "2026-01-15T12:00:00+00:00", "", id="unknown-zone"),
    pytest.param("../etc/passwd", "2026-01-15T12:00:00+00:00", "", id="path-like-name"),
])
def test_utc_offset(zone, moment, offset):
    assert timezones.utc_offset(zone, datetime.datetime.fromisoformat(moment)) == offset
