"""Country facts shipped in data/countries.json (generated from CLDR)."""
import re

import pytest

from visitorapi.countries import CountryFacts, all_countries, country_facts


@pytest.mark.parametrize("code, name, currencies, first_languages, continent", [
    pytest.param("DE", "Germany", ("EUR",), ("de",), "EU", id="germany"),
    pytest.param("US", "United States", ("USD",), ("en",), "NA", id="united-states"),
    pytest.param("CH", "Switzerland", ("CHF",), ("de",), "EU", id="switzerland"),
    pytest.param("FR", "France", ("EUR",), ("fr",), "EU", id="france"),
    pytest.param("JP", "Japan", ("JPY",), ("ja",), "AS", id="japan"),
    pytest.param("BR", "Brazil", ("BRL",), ("pt",), "SA", id="brazil"),
    pytest.param("AU", "Australia", ("AUD",), ("en",), "OC", id="australia"),
    pytest.param("EG", "Egypt", ("EGP",), ("ar",), "AF", id="egypt"),
    pytest.param("PA", "Panama", ("PAB", "USD"), ("es",), "NA", id="two-currencies"),
    pytest.param("AQ", "Antarctica", (), (), "AN", id="antarctica"),
    pytest.param("XK", "Kosovo", ("EUR",), ("sq",), "EU", id="kosovo-user-assigned"),
])
def test_real_facts(code, name, currencies, first_languages, continent):
    facts = country_facts(code)
    assert facts.code == code and facts.name == name
    assert facts.currencies == currencies
    assert facts.languages[:len(first_languages)] == first_languages
    assert facts.continent_code == continent


def test_switzerland_has_its_national_languages():
    assert {"de", "fr", "it", "rm"} <= set(country_facts("CH").languages)


def test_non_tender_fund_codes_are_left_out():
    assert "CHE" not in country_facts("CH").currencies and "USN" not in country_facts("US").currencies


@pytest.mark.parametrize("code", ["ZZ", "EU", "UN", "XX", "", "D", "DEU", "1"])
def test_unknown_codes(code):
    assert country_facts(code) is None


def test_lowercase_code_works():
    assert country_facts("de") is country_facts("DE")


def test_every_entry_is_well_formed():
    table = all_countries()
    assert len(table) == 250          # ISO 3166-1's 249 plus XK
    for code, facts in table.items():
        assert isinstance(facts, CountryFacts) and re.fullmatch(r"[A-Z]{2}", code)
        assert facts.name
        assert all(re.fullmatch(r"[A-Z]{3}", c) for c in facts.currencies)
        assert all(re.fullmatch(r"[a-z]{2}", lang) for lang in facts.languages)
        assert len(set(facts.languages)) == len(facts.languages)
        assert facts.continent_code in {"AF", "AN", "AS", "EU", "NA", "OC", "SA"}


@pytest.mark.parametrize("code, is_eu, calling_code, flag", [
    pytest.param("DE", True, "+49", "\U0001F1E9\U0001F1EA", id="germany"),
    pytest.param("CH", False, "+41", "\U0001F1E8\U0001F1ED", id="switzerland-not-eu"),
    pytest.param("US", False, "+1", "\U0001F1FA\U0001F1F8", id="nanp"),
    pytest.param("BG", True, "+359", "\U0001F1E7\U0001F1EC", id="newer-member"),
    pytest.param("GB", False, "+44", "\U0001F1EC\U0001F1E7", id="left-the-eu"),
    pytest.param("XK", False, "+383", "\U0001F1FD\U0001F1F0", id="kosovo"),
    pytest.param("AQ", False, "", "\U0001F1E6\U0001F1F6", id="no-calling-code"),
])
def test_eu_calling_code_and_flag(code, is_eu, calling_code, flag):
    facts = country_facts(code)
    assert (facts.is_eu, facts.calling_code, facts.flag) == (is_eu, calling_code, flag)


def test_the_eu_has_its_27_members():
    assert sum(facts.is_eu for facts in all_countries().values()) == 27


@pytest.mark.parametrize("code, details", [
    pytest.param("DE", [("EUR", "Euro", "€")], id="euro"),
    pytest.param("PA", [("PAB", "Panamanian Balboa", "PAB"), ("USD", "US Dollar", "$")],
                 id="two-currencies-in-order"),
    pytest.param("IN", [("INR", "Indian Rupee", "₹")], id="rupee"),
    pytest.param("AQ", [], id="none"),
])
def test_currency_details_follow_currencies(code, details):
    facts = country_facts(code)
    assert [(c.code, c.name, c.symbol) for c in facts.currency_details] == details
    assert tuple(c.code for c in facts.currency_details) == facts.currencies


def test_every_currency_and_calling_code_is_well_formed():
    for facts in all_countries().values():
        assert re.fullmatch(r"(\+[1-9][0-9]{0,2})?", facts.calling_code)
        assert all(c.name and c.symbol for c in facts.currency_details)
