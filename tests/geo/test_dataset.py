"""The shipped data file: complete, consistent and loadable."""

from __future__ import annotations

import zoneinfo
from collections import Counter

from taskgo.geo.dataset import cities_by_code, load_cities, load_states


def test_twenty_seven_states() -> None:
    states = load_states()

    assert len(states) == 27
    assert len({state.uf for state in states}) == 27
    assert {state.uf: state.name for state in states}["PR"] == "Paraná"
    assert {state.uf: state.ibge_code for state in states}["DF"] == 53


def test_municipality_count_and_codes() -> None:
    cities = load_cities()
    state_codes = {state.uf: state.ibge_code for state in load_states()}

    assert len(cities) == 5571
    assert len(cities_by_code()) == len(cities)
    for city in cities:
        assert 1_000_000 <= city.ibge_code <= 9_999_999
        assert city.ibge_code // 100_000 == state_codes[city.uf], city


def test_per_state_counts() -> None:
    per_state = Counter(city.uf for city in load_cities())

    assert per_state["MG"] == 853
    assert per_state["SP"] == 645
    assert per_state["DF"] == 1
    assert per_state["MT"] == 142  # Boa Esperança do Norte, installed in 2025, included


def test_names_keep_accents() -> None:
    by_code = cities_by_code()

    assert by_code[3550308].name == "São Paulo"
    assert by_code[4108304].name == "Foz do Iguaçu"
    assert by_code[2605459].name == "Fernando de Noronha"
    assert by_code[4104808].state_name == "Paraná"


def test_seats_inside_brazil_and_zones_valid() -> None:
    known_zones = zoneinfo.available_timezones()

    for city in load_cities():
        assert -34.0 <= city.lat <= 5.3, city
        assert -74.0 <= city.lng <= -28.8, city
        assert city.timezone in known_zones, city
        assert city.timezone.startswith("America/"), city


def test_time_zones_by_region() -> None:
    by_code = cities_by_code()

    assert by_code[2605459].timezone == "America/Noronha"
    assert by_code[1302603].timezone == "America/Manaus"  # Manaus
    assert by_code[1200401].timezone == "America/Rio_Branco"
    assert by_code[5103403].timezone == "America/Cuiaba"  # Cuiabá


def test_no_duplicate_name_within_state() -> None:
    names = Counter((city.uf, city.name) for city in load_cities())

    assert [key for key, count in names.items() if count > 1] == []
