"""The pure parts of tools/gen_countries.py: language ranking and the continent walk."""
import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "gen_countries.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_countries", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_languages_most_spoken_first_official_kept_rare_and_non_iso_dropped(gen):
    entry = {
        "de": {"population_percent": 76.0, "official_status": "official"},
        "gsw": {"population_percent": 66.0, "official_status": "de_facto_official"},
        "en": {"population_percent": 45.0, "official_status": None},
        "fr": {"population_percent": 39.0, "official_status": "official"},
        "pt": {"population_percent": 3.4, "official_status": None},
        "rm": {"population_percent": 0.5, "official_status": "official_regional"},
        "zh_Hant": {"population_percent": 6.0, "official_status": None},
        "zh": {"population_percent": 1.0, "official_status": None},
    }
    assert gen.languages(entry) == ["de", "en", "fr", "zh", "rm"]


def test_continents_walk_subregions_and_override_antarctica(gen):
    containment = {
        "001": {"_contains": ["002", "009", "019", "150"]},
        "019": {"_contains": ["005", "021"]},
        "005": {"_contains": ["BR"]},
        "021": {"_contains": ["US"]},
        "150": {"_contains": ["155"]},
        "155": {"_contains": ["DE"]},
        "002": {"_contains": ["015"]},
        "015": {"_contains": ["EG"]},
        "009": {"_contains": ["053", "QO"]},
        "053": {"_contains": ["AU"]},
        "QO": {"_contains": ["AQ"]},
        "EU": {"_contains": ["DE"]},
    }
    assert gen.continents(containment) == {"BR": "SA", "US": "NA", "DE": "EU", "EG": "AF",
                                           "AU": "OC", "AQ": "AN"}
