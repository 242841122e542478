"""Every drawn flow, played by the demo against a real server and worker process."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import psycopg
import pytest

from taskgo.demo.data import CASCAVEL_IBGE, FOZ_IBGE
from taskgo.demo.scenario import run_scenario
from taskgo.demo.seed import SEED_USERS
from taskgo.jobs.queue import libpq_url
from taskgo.tracking.codes import is_valid_tracking_code
from tests.e2e.conftest import LiveServer, _taskgo

pytestmark = pytest.mark.timeout(170)

# Without Tesseract the analysis job cannot read the cards, so waiting for it is pointless.
HAS_TESSERACT = shutil.which("tesseract") is not None
FULL_CPF = re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b")
SEED_TABLES = ("users", "products", "partner_categories", "user_locations", "payment_accounts")


def _seed_counts(database_url: str) -> dict[str, int]:
    uids = [seed.uid for seed in SEED_USERS]
    counts = {}
    with psycopg.connect(libpq_url(database_url)) as connection:
        for table in SEED_TABLES:
            column = "id" if table == "users" else "user_id"
            if table == "products":
                column = "seller_id"
            if table == "partner_categories":
                column = "partner_id"
            row = connection.execute(
                f"SELECT count(*) FROM {table} t JOIN users u ON u.id = t.{column} "  # noqa: S608
                "WHERE u.firebase_uid = ANY(%s)",
                [uids],
            ).fetchone()
            assert row is not None
            counts[table] = row[0]
        verified = connection.execute(
            "SELECT count(*) FROM users WHERE firebase_uid = ANY(%s) "
            "AND verification_status = 'verified' AND verified_cpf_encrypted IS NOT NULL",
            [uids],
        ).fetchone()
    assert verified is not None
    counts["verified_partners"] = verified[0]
    return counts


def test_seed_runs_twice_without_duplicates(
    seeded: list[subprocess.CompletedProcess[str]], clean_database: str
) -> None:
    first, second = seeded
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    for seed in SEED_USERS:
        assert f"uid={seed.uid}" in second.stdout
    assert second.stdout.count("Authorization: Bearer ey") == len(SEED_USERS)

    counts = _seed_counts(clean_database)
    assert counts == {
        "users": 7,
        "products": 6,
        "partner_categories": 8,
        "user_locations": 6,
        "payment_accounts": 4,
        "verified_partners": 4,
    }


@pytest.fixture(scope="module")
async def scenario(live_server: LiveServer) -> Any:
    return await run_scenario(
        live_server.base_url, analysis_wait_seconds=45.0 if HAS_TESSERACT else 3.0
    )


async def test_every_flow_ran(scenario: Any) -> None:
    assert scenario.skipped == []
    assert scenario.seconds < 90


async def test_verification_approved_by_admin(scenario: Any) -> None:
    for key in ("paulo", "rita"):
        submitted = scenario[f"flow9.{key}.submitted"]
        assert submitted["status"] == "pending"
        assert len(submitted["uploads"]) == 3

        analysis = scenario[f"flow9.{key}.analysis"]
        assert analysis["status"] == "pending"
        if HAS_TESSERACT:
            assert analysis["analysis_complete"] is True
            assert analysis["extracted_cpf"] == submitted["cpf_on_document"]
        approved = scenario[f"flow9.{key}.approved"]
        assert approved["listed_in_queue"] is True
        assert approved["redirect"] == "/admin/verifications?done=approved"
        assert approved["status"] == "verified"
        assert approved["me_verification_status"] == "verified"
    assert scenario["flow9.paulo.analysis"]["extracted_birth_date"] in (None, "1988-03-14")


async def test_bank_accounts_switch_primary(scenario: Any) -> None:
    first, second = scenario["flow10.account1"], scenario["flow10.account2"]
    assert first["is_primary"] is True
    assert second["is_primary"] is False
    assert first["review_status"] == second["review_status"] == "clear"
    assert first["pix_key_type"] == "cpf"
    assert second["pix_key_type"] == "random"
    # The demo's account numbers have 5 to 8 digits, of which at most half are shown.
    assert re.fullmatch(r"\*{3,}\d{2,4}-\d", first["account"])
    assert first["pix_key"] == scenario["flow9.paulo.submitted"]["cpf_on_document"]
    assert "*" in second["pix_key"]

    switched = scenario["flow10.switched"]
    assert switched["is_primary"] is True
    assert switched["first_is_primary"] is False
    assert switched["second_is_primary"] is True


async def test_products_bound_to_gps_city(scenario: Any) -> None:
    cities = [scenario[f"flow1.product{index}"]["city_id"] for index in range(1, 6)]
    assert cities == [CASCAVEL_IBGE, CASCAVEL_IBGE, CASCAVEL_IBGE, FOZ_IBGE, FOZ_IBGE]
    assert scenario["flow1.product1"]["price"] == "100.00"
    for key in ("paulo", "rita"):
        assert scenario[f"flow11.{key}"]["city_id"] == CASCAVEL_IBGE
        assert scenario[f"flow11.{key}"]["changed"] is True


async def test_browsing_follows_the_client(scenario: Any) -> None:
    cascavel = scenario["flow2.cascavel"]
    assert cascavel["city_id"] == CASCAVEL_IBGE
    assert len(cascavel["cascavel_products_seen"]) == 3
    assert cascavel["foz_products_seen"] == []

    foz = scenario["flow2.foz"]
    assert foz["city_id"] == FOZ_IBGE
    assert len(foz["foz_products_seen"]) == 2
    assert foz["cascavel_products_seen"] == []
    assert foz["me_current_city"] == FOZ_IBGE


async def test_service_order_reaches_partner_sockets(scenario: Any) -> None:
    posted = scenario["flow3.posted"]
    assert posted["status"] == "open"
    assert posted["city"] == "Cascavel"
    # Paulo and Rita, plus the seeded painter of Cascavel.
    assert posted["notified_partners"] == 3
    for key in ("paulo", "rita"):
        event = scenario[f"flow3.{key}_socket"]
        assert event["service_order"] == posted["order"].split("-")[0]
        assert event["category"] == "pintura"
        assert event["city"] == "Cascavel"

    accepted = scenario["flow3.accepted"]
    assert accepted["status"] == "accepted"
    assert accepted["partner_is_rita"] is True
    assert accepted["late_accept_error"] == "service_order.already_taken"


async def test_escrow_purchase_paid(scenario: Any) -> None:
    assert scenario["flow4.payout_account"]["transfers_enabled"] is True
    created = scenario["flow4.created"]
    assert created["status"] == "pending_payment"
    assert (created["total"], created["platform_fee"], created["escrow"]) == (
        "100.00",
        "5.00",
        "95.00",
    )
    assert created["has_client_secret"] is True
    assert created["retry_same_purchase"] is True

    paid = scenario["flow4.paid"]
    assert paid["status"] == "paid"
    assert paid["seller_event_status"] == "paid"


async def test_chat_over_sockets(scenario: Any) -> None:
    joined = scenario["flow5.joined"]
    assert joined["same_for_seller"] is True
    assert joined["join_acks"] == [{"ok": True}, {"ok": True}]
    assert scenario["flow5.ana_says"]["received_body"] == "Quando chega?"
    assert scenario["flow5.paulo_says"]["received_body"] == "Chega em 3 dias"
    assert scenario["flow5.ana_says"]["sender_is_right"] is True
    assert scenario["flow5.paulo_says"]["sender_is_right"] is True
    assert scenario["flow5.history"]["bodies"] == ["Chega em 3 dias", "Quando chega?"]


async def test_shipping_and_tracking(scenario: Any) -> None:
    shipped = scenario["flow7.shipped"]
    assert shipped["typo_error"] == "tracking.invalid_code"
    assert not is_valid_tracking_code(shipped["typo"])
    assert is_valid_tracking_code(shipped["tracking_code"])
    assert shipped["status"] == "shipped"
    assert shipped["buyer_event_status"] == "shipped"

    assert scenario["flow7.in_transit"]["timeline"] == ["posted", "in_transit"]
    delivered = scenario["flow7.delivered"]
    assert delivered["timeline"] == ["posted", "in_transit", "out_for_delivery", "delivered"]
    assert delivered["timeline_status"] == "delivered"


async def test_support_assistant_finds_the_order(scenario: Any) -> None:
    reply = scenario["flow8.reply"]
    assert reply["role"] == "assistant"
    assert reply["mentions_purchase"] is True
    assert reply["mentions_tracking_code"] is True


async def test_delivery_releases_escrow(scenario: Any) -> None:
    released = scenario["flow4.released"]
    assert released["status_after_carrier"] == "delivered"
    assert released["release_at_after_carrier"] is not None
    assert released["status"] == "released"
    assert released["released_at"] is not None
    assert (released["escrow"], released["platform_fee"]) == ("95.00", "5.00")
    assert released["seller_event_status"] == "released"
    assert released["seller_notice"] is not None

    ledger = scenario["flow4.ledger"]
    assert ledger["sum_cents"] == 0
    assert ledger["escrow_held_cents"] == 0


async def test_partner_moves_to_foz(scenario: Any) -> None:
    assert scenario["flow6.foz_order"]["city"] == "Foz do Iguaçu"
    moved = scenario["flow6.moved"]
    assert moved["city_id"] == FOZ_IBGE
    assert moved["changed"] is True
    assert moved["me_current_city"] == FOZ_IBGE
    assert moved["cascavel_closed"] is True

    # The arrival summary names the order, unless its dispatch ran after the move and sent
    # order_created instead (see taskgo.demo.flows_partner.move_city).
    summary = scenario["flow6.summary"]
    assert summary["told_by"] in ("city_orders", "order_created")
    if summary["told_by"] == "city_orders":
        assert summary["kind"] == "city_orders"
    assert scenario["flow6.foz_order"]["order"] in summary["order_ids"]

    products = scenario["flow6.products"]
    assert products["old_city"] == CASCAVEL_IBGE
    assert products["new_city"] == FOZ_IBGE


@pytest.mark.skipif(not HAS_TESSERACT, reason="the CLI waits for OCR, which needs Tesseract")
def test_demo_command_runs_again(live_server: LiveServer, scenario: Any) -> None:
    """`taskgo demo` replays everything against the same server, with new users."""
    completed = subprocess.run(  # noqa: S603 - our own entry point and a loopback URL
        [_taskgo(), "demo", "--base-url", live_server.base_url],
        env=live_server.environment,
        cwd=live_server.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "every flow ran" in completed.stdout
    for flow in (
        "Flow 1 ",
        "Flow 2 ",
        "Flow 3 ",
        "Flow 4 ",
        "Flow 5 ",
        "Flow 6 ",
        "Flow 7 ",
        "Flow 8 ",
        "Flow 9 ",
        "Flow 10 ",
        "Flow 11 ",
    ):
        assert flow in completed.stdout
    # Documents, account numbers and PIX keys are printed only masked.
    assert FULL_CPF.search(completed.stdout) is None
