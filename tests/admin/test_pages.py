"""Admin console over HTTP: sign-in, CSRF, the queue, decisions and the audit log."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs.inline import run_queued_jobs
from taskgo.users.models import User
from taskgo.verification.models import VerificationSubmission
from tests.verification.conftest import good_images, upload_image

MakeUser = Callable[..., Awaitable[User]]
Headers = Callable[..., dict[str, str]]

_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def bearer_token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def csrf_from(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    page = await client.get("/admin/login")
    return await client.post(
        "/admin/login",
        data={"token": token, "csrf_token": csrf_from(page.text), "next": "/admin/verifications"},
    )


@pytest.fixture
async def admin(make_user: MakeUser) -> User:
    return await make_user(role="admin", name="Beatriz Admin")


@pytest.fixture
async def partner(make_user: MakeUser) -> User:
    return await make_user(role="partner", name="José Araújo", email="jose@example.com")


@pytest.fixture
async def submission(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, auth_headers: Headers
) -> VerificationSubmission:
    headers = auth_headers(partner)
    images = good_images()
    body = {
        "documentFront": await upload_image(
            client, headers, images.document_front, purpose="document"
        ),
        "documentBack": await upload_image(
            client, headers, images.document_back, purpose="document"
        ),
        "selfie": await upload_image(client, headers, images.selfie, purpose="selfie"),
    }
    response = await client.post("/api/verification/submit", json=body, headers=headers)
    assert response.status_code == 202
    await run_queued_jobs(db, task_names={"verification.analyze"})
    found = await db.get(VerificationSubmission, uuid.UUID(response.json()["id"]))
    assert found is not None
    await db.refresh(found)
    return found


@pytest.fixture
async def signed_in(
    client: httpx.AsyncClient, admin: User, auth_headers: Headers
) -> httpx.AsyncClient:
    response = await sign_in(client, bearer_token(auth_headers(admin)))
    assert response.status_code == 303, response.text
    return client


async def test_pages_redirect_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/verifications?status=approved")
    assert response.status_code == 303
    assert (
        response.headers["location"] == "/admin/login?next=/admin/verifications%3Fstatus%3Dapproved"
    )


async def test_login_page_in_portuguese(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/login")
    assert response.status_code == 200
    assert '<html lang="pt-BR">' in response.text
    assert "Entrar no painel" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    cookie = response.headers["set-cookie"]
    assert "taskgo_admin_csrf=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()


async def test_sign_in_sets_session_cookie(
    client: httpx.AsyncClient, admin: User, auth_headers: Headers
) -> None:
    response = await sign_in(client, bearer_token(auth_headers(admin)))
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/verifications"
    session_cookie = [
        c for c in response.headers.get_list("set-cookie") if "taskgo_admin_session" in c
    ]
    assert len(session_cookie) == 1
    assert "HttpOnly" in session_cookie[0]
    assert "Path=/admin" in session_cookie[0]

    queue = await client.get("/admin/verifications")
    assert queue.status_code == 200
    assert "Verificações de identidade" in queue.text


async def test_partner_cannot_sign_in(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    response = await sign_in(client, bearer_token(auth_headers(partner)))
    assert response.status_code == 403
    assert "Esta conta não é de administrador." in response.text
    assert "taskgo_admin_session" not in response.headers.get("set-cookie", "")


async def test_invalid_token_rejected(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "not-a-jwt")
    assert response.status_code == 401
    assert "Token inválido ou expirado" in response.text


async def test_login_without_csrf_rejected(
    client: httpx.AsyncClient, admin: User, auth_headers: Headers
) -> None:
    await client.get("/admin/login")
    response = await client.post(
        "/admin/login", data={"token": bearer_token(auth_headers(admin)), "csrf_token": "forged"}
    )
    assert response.status_code == 403
    assert "Formulário expirado" in response.text


async def test_queue_lists_pending_submission(
    signed_in: httpx.AsyncClient, submission: VerificationSubmission
) -> None:
    response = await signed_in.get("/admin/verifications")
    assert response.status_code == 200
    assert f'data-submission-id="{submission.id}"' in response.text
    assert "José Araújo" in response.text
    assert "7 de 7 ok" in response.text

    approved_tab = await signed_in.get("/admin/verifications?status=approved")
    assert "Nenhum envio aprovado." in approved_tab.text


async def test_detail_shows_images_fields_and_checks(
    signed_in: httpx.AsyncClient, submission: VerificationSubmission
) -> None:
    response = await signed_in.get(f"/admin/verifications/{submission.id}")
    assert response.status_code == 200
    html = response.text
    assert '<td id="submission-status">Pendente</td>' in html
    assert "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO" in html
    assert "529.982.247-25" in html
    assert "14/07/1987" in html
    assert 'data-check="selfieOneFace" data-ok="true"' in html
    assert "Exatamente um rosto na selfie (encontrados: 1)" in html
    for upload_id in (
        submission.document_front_id,
        submission.document_back_id,
        submission.selfie_id,
    ):
        assert f'src="/admin/uploads/{upload_id}"' in html
        image = await signed_in.get(f"/admin/uploads/{upload_id}")
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/jpeg"
        assert image.headers["x-content-type-options"] == "nosniff"


async def test_detail_in_english(
    signed_in: httpx.AsyncClient, submission: VerificationSubmission
) -> None:
    response = await signed_in.get(
        f"/admin/verifications/{submission.id}", headers={"Accept-Language": "en"}
    )
    assert '<html lang="en">' in response.text
    assert "Name on the document" in response.text
    assert "Approve" in response.text


async def test_reject_without_reason_shows_error(
    signed_in: httpx.AsyncClient, db: AsyncSession, submission: VerificationSubmission
) -> None:
    page = await signed_in.get(f"/admin/verifications/{submission.id}")
    response = await signed_in.post(
        f"/admin/verifications/{submission.id}/reject",
        data={"csrf_token": csrf_from(page.text), "reason": "  "},
    )
    assert response.status_code == 422
    assert "Informe o motivo da rejeição (mínimo de 5 caracteres)." in response.text
    await db.refresh(submission)
    assert submission.status == "pending"


async def test_reject_from_console(
    signed_in: httpx.AsyncClient,
    db: AsyncSession,
    submission: VerificationSubmission,
    partner: User,
) -> None:
    page = await signed_in.get(f"/admin/verifications/{submission.id}")
    response = await signed_in.post(
        f"/admin/verifications/{submission.id}/reject",
        data={"csrf_token": csrf_from(page.text), "reason": "Selfie escura; tire outra com luz."},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/verifications?done=rejected"
    await db.refresh(submission)
    await db.refresh(partner)
    assert submission.status == "rejected"
    assert partner.verification_status == "rejected"

    audit = await signed_in.get("/admin/audit")
    assert "Verificação rejeitada" in audit.text
    assert "Selfie escura; tire outra com luz." in audit.text
    assert "Entrada no painel" in audit.text


async def test_approve_from_console(
    signed_in: httpx.AsyncClient,
    db: AsyncSession,
    submission: VerificationSubmission,
    partner: User,
) -> None:
    page = await signed_in.get(f"/admin/verifications/{submission.id}")
    response = await signed_in.post(
        f"/admin/verifications/{submission.id}/approve",
        data={"csrf_token": csrf_from(page.text), "cpf": "529.982.247-25"},
    )
    assert response.status_code == 303
    await db.refresh(partner)
    assert partner.verification_status == "verified"

    again = await signed_in.post(
        f"/admin/verifications/{submission.id}/approve",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert again.status_code == 409
    assert "Este envio já foi decidido (aprovado)." in again.text


async def test_cross_origin_post_rejected(
    signed_in: httpx.AsyncClient, db: AsyncSession, submission: VerificationSubmission
) -> None:
    page = await signed_in.get(f"/admin/verifications/{submission.id}")
    response = await signed_in.post(
        f"/admin/verifications/{submission.id}/approve",
        data={"csrf_token": csrf_from(page.text)},
        headers={"Origin": "http://attacker.example"},
    )
    assert response.status_code == 403
    await db.refresh(submission)
    assert submission.status == "pending"


async def test_partner_cookie_gets_403(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    client.cookies.set("taskgo_admin_session", bearer_token(auth_headers(partner)), path="/admin")
    response = await client.get("/admin/verifications")
    assert response.status_code == 403
    assert "Apenas administradores podem abrir o painel." in response.text


async def test_admin_image_route_needs_session(
    client: httpx.AsyncClient, submission: VerificationSubmission
) -> None:
    response = await client.get(f"/admin/uploads/{submission.selfie_id}")
    assert response.status_code == 303


async def test_logout_ends_session(signed_in: httpx.AsyncClient) -> None:
    page = await signed_in.get("/admin/verifications")
    response = await signed_in.post("/admin/logout", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303
    after = await signed_in.get("/admin/verifications")
    assert after.status_code == 303


async def test_audit_before_out_of_range(signed_in: httpx.AsyncClient) -> None:
    response = await signed_in.get("/admin/audit?before=99999999999999999999999")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation.less_than_equal"
    assert error["details"]["field"] == "before"


async def test_approve_superscript_digit_cpf(
    signed_in: httpx.AsyncClient,
    db: AsyncSession,
    submission: VerificationSubmission,
    partner: User,
) -> None:
    page = await signed_in.get(f"/admin/verifications/{submission.id}")
    response = await signed_in.post(
        f"/admin/verifications/{submission.id}/approve",
        data={"csrf_token": csrf_from(page.text), "cpf": "529.982.247-2\u00b2"},
    )
    assert response.status_code == 422
    assert "CPF inválido: confira os 11 dígitos e os dígitos verificadores." in response.text
    await db.refresh(partner)
    assert partner.verification_status == "pending"


def test_every_audit_action_has_label() -> None:
    from pathlib import Path

    from taskgo.admin.pages.audit import LABELLED_ACTIONS, action_label_key
    from taskgo.i18n import translate

    source = Path(__file__).resolve().parents[2] / "src" / "taskgo"
    written = set()
    for path in source.rglob("*.py"):
        written.update(re.findall(r'action="([a-z_]+\.[a-z_]+)"', path.read_text()))
    # The dispute outcome is formatted into the action name.
    written.update({"purchase.dispute_release", "purchase.dispute_refund"})

    assert written <= LABELLED_ACTIONS
    for action in LABELLED_ACTIONS:
        key = action_label_key(action)
        assert key is not None
        for locale in ("pt_BR", "en"):
            assert translate(key, locale) != key, (action, locale)
