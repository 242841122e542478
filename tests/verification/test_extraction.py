"""CPF, name and birth-date extraction from OCR text, and name comparison."""

from __future__ import annotations

from datetime import date

import pytest

from taskgo.verification.extraction import (
    DocumentFields,
    NameMatch,
    age_on,
    compare_names,
    extract_fields,
    find_birth_date,
    find_cpf,
    find_cpfs,
    find_name,
    is_valid_cpf,
    mask_cpf,
    merge_fields,
)

TODAY = date(2026, 12, 4)


@pytest.mark.parametrize("cpf", ["52998224725", "11144477735", "39053344705", "00000000191"])
def test_valid_cpfs(cpf: str) -> None:
    assert is_valid_cpf(cpf)


@pytest.mark.parametrize(
    "cpf",
    [
        "52998224724",
        "52998224715",
        "11111111111",
        "00000000000",
        "5299822472",
        "529982247250",
        "5299822472a",
        "5299822472\u00b2",
        "\u0665\u0662\u0669\u0669\u0668\u0662\u0662\u0664\u0667\u0662\u0665",
    ],
)
def test_invalid_cpfs(cpf: str) -> None:
    assert not is_valid_cpf(cpf)


@pytest.mark.parametrize(
    "text",
    [
        "CPF 529.982.247-25",
        "CPF: 52998224725",
        "529 982 247 25",
        "529.982.247 - 25",
        "529,982.247-25",
        "S29.982.247-25",  # S read for 5
        "529.982.247-2S",
        "529.982.Z47-25",
        "529.98Z.247-25",  # Z read for 2
    ],
)
def test_cpf_found_in_noisy_text(text: str) -> None:
    assert find_cpfs(text) == ["52998224725"]


def test_cpf_with_wrong_check_digits_ignored() -> None:
    assert find_cpfs("CPF 529.982.247-26") == []
    assert find_cpf("CPF 529.982.247-26") is None


def test_cpf_needs_nine_real_digits() -> None:
    # "SIL.VAS.ILB-SS" would map to digits, but it is a word, not a number.
    assert find_cpfs("SIL.VAS.ILB-SS") == []


def test_cpf_prefers_the_labelled_one() -> None:
    text = "REGISTRO 111.444.777-35\nNOME\nFULANO DE TAL\nCPF\n529.982.247-25\n"
    assert find_cpf(text) == "52998224725"


def test_cpf_unlabelled_takes_first_valid() -> None:
    assert find_cpf("foo 123.456.789-00 bar 111.444.777-35 baz 529.982.247-25") == "11144477735"


def test_cpf_not_glued_to_longer_numbers() -> None:
    assert find_cpfs("9529.982.247-25") == []
    assert find_cpfs("529.982.247-251") == []


def test_mask_cpf() -> None:
    assert mask_cpf("52998224725") == "***.982.247-**"


def test_birth_date_labelled() -> None:
    text = "DATA EMISSÃO\n01/02/2020\nDATA DE NASCIMENTO\n14/07/1987\nVALIDADE 20/05/2031"
    assert find_birth_date(text, today=TODAY) == date(1987, 7, 14)


def test_birth_date_label_on_same_line() -> None:
    assert find_birth_date("NASC. 03.09.1990  EXP 2019-01-01", today=TODAY) == date(1990, 9, 3)


def test_birth_date_unlabelled_is_earliest() -> None:
    text = "VALIDADE 20/05/2031\n1ª HABILITAÇÃO 03/02/2006\n14/07/1987"
    assert find_birth_date(text, today=TODAY) == date(1987, 7, 14)


def test_birth_date_skips_impossible_and_future() -> None:
    text = "NASCIMENTO 31/02/1987\n30/13/1990\n12/12/2099\n05/06/1992"
    assert find_birth_date(text, today=TODAY) == date(1992, 6, 5)


def test_birth_date_absent() -> None:
    assert find_birth_date("SEM DATAS AQUI", today=TODAY) is None


def test_age_on_birthday_boundary() -> None:
    assert age_on(date(2008, 12, 4), TODAY) == 18
    assert age_on(date(2008, 12, 5), TODAY) == 17


def test_name_below_label() -> None:
    text = "REPÚBLICA FEDERATIVA DO BRASIL\nNOME\nJOSÉ CONCEIÇÃO DA SILVA ARAÚJO\nCPF\n"
    assert find_name(text) == "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO"


@pytest.mark.parametrize(
    "text",
    [
        "NOME: MARIA D'ÁVILA SOUZA-LIMA\n",
        "2 e 1 NOME E SOBRENOME\nMARIA D'ÁVILA SOUZA-LIMA\n",
        "NOME / NAME\n\nMARIA D'ÁVILA SOUZA-LIMA\n",
    ],
)
def test_name_label_variants(text: str) -> None:
    assert find_name(text) == "MARIA D'ÁVILA SOUZA-LIMA"


def test_name_skips_parent_labels_and_noise() -> None:
    text = "NOME DA MÃE\nANA PAULA SOUZA\nNOME\n*#@ 12 %%\nCARLOS ALBERTO NÓBREGA\n"
    assert find_name(text) == "CARLOS ALBERTO NÓBREGA"


def test_name_never_a_label() -> None:
    assert find_name("NOME\nDATA NASCIMENTO\n14/07/1987") is None


def test_extract_fields_and_merge() -> None:
    front = extract_fields("NOME\nANA LIMA\nNASCIMENTO 02/03/1999", today=TODAY)
    back = extract_fields("CPF 111.444.777-35\n01/01/2015", today=TODAY)
    assert front == DocumentFields(cpf=None, name="ANA LIMA", birth_date=date(1999, 3, 2))
    merged = merge_fields([front, back])
    assert merged == DocumentFields(cpf="11144477735", name="ANA LIMA", birth_date=date(1999, 3, 2))
    assert merged.count() == 3


@pytest.mark.parametrize(
    ("document", "profile", "expected"),
    [
        ("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", "José Conceição da Silva Araújo", NameMatch.MATCH),
        ("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", "Jose Araujo", NameMatch.MATCH),
        ("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", "josé silva", NameMatch.MATCH),
        ("JOSE CONCEICA0 DA SILVA ARAUJ0", "José Conceição Araújo", NameMatch.MATCH),
        ("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", "José", NameMatch.PARTIAL),
        ("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", "Maria Araújo", NameMatch.MISMATCH),
        ("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", "José Pereira", NameMatch.MISMATCH),
        ("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", "Araújo Silva", NameMatch.MISMATCH),
        ("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", "José Araújo Silva", NameMatch.MISMATCH),
        ("ANA LIMA", "Ana Lima Souza", NameMatch.MISMATCH),
        (None, "Ana Lima", NameMatch.MISSING),
        ("ANA LIMA", "", NameMatch.MISMATCH),
    ],
)
def test_compare_names(document: str | None, profile: str, expected: NameMatch) -> None:
    assert compare_names(document, profile) is expected
