"""The /api answer's body (visitorapi.web.answer): fragments, utcOffset over time, fields."""
import datetime
import json

import pytest

from visitorapi.countries import country_facts
from visitorapi.ipdb.reader import Location
from visitorapi.web.answer import NAMES, Renderer

BERLIN = Location(country_code="DE", region="Berlin", city="Berlin", latitude=52.52,
                  longitude=13.405, timezone="Europe/Berlin")


def at(text):
    return datetime.datetime.fromisoformat(text).timestamp()


class Clock:
    def __init__(self, moment):
        self.now = at(moment)

    def __call__(self):
        return self.now


def data(renderer, location, fields=None):
    body, _ = renderer.render("192.0.2.1", location, "", fields)
    return json.loads(body)["data"]


def test_utc_offset_follows_the_clock_across_a_dst_change():
    clock = Clock("2026-03-29T00:50:00+00:00")      # Europe: summer time at 01:00 UTC
    renderer = Renderer(lambda ua: {}, country_facts, clock=clock)
    assert data(renderer, BERLIN)["utcOffset"] == "+01:00"
    clock.now = at("2026-03-29T01:00:00+00:00")
    assert data(renderer, BERLIN)["utcOffset"] == "+02:00"


def test_every_name_is_sent_in_order_and_unknown_places_are_empty():
    renderer = Renderer(lambda ua: {}, country_facts)
    known, unknown = data(renderer, BERLIN), data(renderer, None)
    assert tuple(known) == NAMES and tuple(unknown) == NAMES
    assert unknown["utcOffset"] == "" and unknown["isEU"] is False
    assert unknown["currencyDetails"] == [] and unknown["flag"] == ""


@pytest.mark.parametrize("location, offset", [
    pytest.param(Location(country_code="IN", timezone="Asia/Kolkata"), "+05:30", id="zone"),
    pytest.param(Location(country_code="US"), "", id="no-zone"),
    pytest.param(Location(country_code="DE", timezone="Mars/Olympus"), "", id="unknown-zone"),
])
def test_utc_offset_of_a_zone_or_empty(location, offset):
    renderer = Renderer(lambda ua: {}, country_facts)
    assert data(renderer, location)["utcOffset"] == offset


def test_fields_subset_keeps_values_and_order():
    renderer = Renderer(lambda ua: {"browser": "Firefox"}, country_facts)
    full = data(renderer, BERLIN)
    subset = data(renderer, BERLIN, frozenset({"isBot", "browser", "countryName"}))
    assert list(subset) == ["countryName", "browser", "isBot"]
    assert subset == {name: full[name] for name in subset}
