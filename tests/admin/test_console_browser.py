"""The admin console in headless Chromium: sign in, review, reject, approve, audit log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from taskgo.db.session import session_scope
from taskgo.jobs.inline import run_queued_jobs
from tests.verification.conftest import skip_without_ocr
from tests.verification.documents import (
    document_back,
    document_front,
    encode,
    no_face,
    portrait,
)

pytestmark = pytest.mark.timeout(240)


async def dev_token(api: httpx.AsyncClient, *, uid: str, role: str, name: str) -> str:
    response = await api.post("/api/auth/dev/token", json={"uid": uid, "role": role, "name": name})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


async def submit_as(api: httpx.AsyncClient, token: str, *, selfie: bytes) -> str:
    skip_without_ocr()
    headers = {"Authorization": f"Bearer {token}"}
    ids = {}
    for field, data, purpose in (
        ("documentFront", encode(document_front()), "document"),
        ("documentBack", encode(document_back()), "document"),
        ("selfie", selfie, "selfie"),
    ):
        response = await api.post(
            "/api/uploads",
            files={"file": ("photo.jpg", data, "image/jpeg")},
            data={"purpose": purpose},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        ids[field] = response.json()["uploadId"]
    response = await api.post("/api/verification/submit", json=ids, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def sign_in(page: Page, base_url: str, token: str) -> None:
    await page.goto(f"{base_url}/admin/")
    await expect(page.get_by_role("heading", name="Entrar no painel")).to_be_visible()
    assert "/admin/login?next=" in page.url
    await page.locator("#token").fill(token)
    await page.locator("#login-form button[type=submit]").click()
    await expect(page.get_by_role("heading", name="Verificações de identidade")).to_be_visible()


async def images_loaded(page: Page) -> list[int]:
    widths: list[int] = await page.eval_on_selector_all(
        "img[data-role]", "images => images.map(image => image.naturalWidth)"
    )
    return widths


async def test_console_review_in_chromium(
    live_client: httpx.AsyncClient,
    console_server: str,
    browser: Browser,
    tmp_path: Path,
) -> None:
    async with httpx.AsyncClient(base_url=console_server, timeout=30) as api:
        jose = await dev_token(api, uid="kyc-jose", role="partner", name="José Araújo")
        lia = await dev_token(api, uid="kyc-lia", role="partner", name="Lia Souza")
        admin = await dev_token(api, uid="kyc-admin", role="admin", name="Beatriz Admin")
        jose_submission = await submit_as(api, jose, selfie=encode(portrait()))
        lia_submission = await submit_as(api, lia, selfie=encode(no_face()))
        async with session_scope() as session:
            ran = await run_queued_jobs(session, task_names={"verification.analyze"})
        assert ran == ["verification.analyze", "verification.analyze"]

        context = await browser.new_context(locale="pt-BR")
        page = await context.new_page()
        await sign_in(page, console_server, admin)

        # The queue lists both partners, oldest first, with their check counts.
        rows = page.locator("#queue tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0)).to_contain_text("José Araújo")
        await expect(rows.nth(0)).to_contain_text("7 de 7 ok")
        await expect(rows.nth(1)).to_contain_text("Lia Souza")
        await expect(rows.nth(1)).to_contain_text("5 de 7 ok")

        # Lia: no face in the selfie and a name that is not hers on the document.
        await rows.nth(1).get_by_role("link", name="Revisar").click()
        await expect(page.locator("#extracted-name")).to_have_text("JOSÉ CONCEIÇÃO DA SILVA ARAÚJO")
        await expect(page.locator("#profile-name")).to_have_text("Lia Souza")
        await expect(page.locator('[data-check="selfieOneFace"]')).to_have_attribute(
            "data-ok", "false"
        )
        await expect(page.locator('[data-check="nameMatchesProfile"]')).to_have_attribute(
            "data-ok", "false"
        )
        assert all(width > 0 for width in await images_loaded(page))

        # An empty reason is stopped by the form itself, then sent once filled in.
        detail_url = page.url
        await page.locator("#reject-form button[type=submit]").click()
        assert page.url == detail_url
        missing = await page.locator("#reason").evaluate("area => area.validity.valueMissing")
        assert missing is True
        await page.locator("#reason").fill("Selfie sem rosto visível e nome diferente do perfil.")
        await page.locator("#reject-form button[type=submit]").click()
        await expect(page.get_by_role("status")).to_have_text(
            "Verificação rejeitada. O parceiro foi notificado com o motivo."
        )
        await expect(page.locator("#queue tbody tr")).to_have_count(1)

        # José: everything checks out; the admin compares and approves.
        await page.get_by_role("link", name="Revisar").click()
        assert page.url.endswith(f"/admin/verifications/{jose_submission}")
        await expect(page.locator("#extracted-cpf")).to_have_text("529.982.247-25")
        await expect(page.locator("#extracted-birth-date")).to_contain_text("14/07/1987")
        await expect(page.locator("#checks li[data-ok=true]")).to_have_count(7)
        widths = await images_loaded(page)
        assert len(widths) == 3
        assert all(width > 0 for width in widths)
        await expect(page.locator("#cpf")).to_have_value("529.982.247-25")
        await page.screenshot(path=str(tmp_path / "submission.png"), full_page=True)
        await page.get_by_role("button", name="Aprovar").click()
        await expect(page.get_by_role("status")).to_have_text(
            "Verificação aprovada. O parceiro foi notificado."
        )
        await expect(page.locator("#queue-empty")).to_have_text("Nenhum envio aguardando revisão.")

        # The audit log shows the sign-in and both decisions, newest first.
        await page.get_by_role("link", name="Auditoria").click()
        actions = page.locator("#audit tbody tr")
        await expect(actions.nth(0)).to_contain_text("Verificação aprovada")
        await expect(actions.nth(1)).to_contain_text("Verificação rejeitada")
        await expect(actions.nth(1)).to_contain_text("Selfie sem rosto visível")
        await expect(actions.nth(2)).to_contain_text("Entrada no painel")
        await expect(actions.nth(0)).to_contain_text("Beatriz Admin")
        await context.close()

        jose_status = await api.get(
            "/api/verification/status", headers={"Authorization": f"Bearer {jose}"}
        )
        assert jose_status.json()["status"] == "verified"
        lia_status = await api.get(
            "/api/verification/status", headers={"Authorization": f"Bearer {lia}"}
        )
        assert lia_status.json()["status"] == "rejected"
        assert lia_status.json()["reason"] == "Selfie sem rosto visível e nome diferente do perfil."
        assert lia_submission != jose_submission


async def test_console_in_english(
    live_client: httpx.AsyncClient, console_server: str, browser: Browser
) -> None:
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    await page.goto(f"{console_server}/admin/login")
    await expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()

    # Dev mode offers a one-click sign-in as the development admin.
    await page.get_by_role("button", name="Sign in as the development admin").click()
    await expect(page.get_by_role("heading", name="Identity verifications")).to_be_visible()
    await expect(page.locator("#queue-empty")).to_have_text("No submission is awaiting review.")
    await context.close()


async def test_private_image_not_shown_to_partner(
    live_client: httpx.AsyncClient, console_server: str, browser: Browser
) -> None:
    async with httpx.AsyncClient(base_url=console_server, timeout=30) as api:
        partner = await dev_token(api, uid="kyc-partner-2", role="partner", name="Rui Lima")
    context = await browser.new_context(locale="pt-BR")
    await context.add_cookies(
        [{"name": "taskgo_admin_session", "value": partner, "url": f"{console_server}/admin/"}]
    )
    page = await context.new_page()
    response = await page.goto(f"{console_server}/admin/verifications")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("alert")).to_have_text(
        "Apenas administradores podem abrir o painel."
    )
    await context.close()
