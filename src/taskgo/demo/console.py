"""The admin's side of verification, through the server-rendered console at /admin.

The console signs in with the admin's ID token and protects its forms with a double-submit
CSRF token: the form field must equal the `taskgo_admin_csrf` cookie, which the login page
sets. The httpx client keeps the cookies as a browser would.
"""

from __future__ import annotations

import httpx

from taskgo.demo.transport import HTTP_TIMEOUT_SECONDS, DemoError

CSRF_COOKIE = "taskgo_admin_csrf"


class AdminConsole:
    def __init__(self, base_url: str) -> None:
        # A client of its own, so the console cookies never ride along on API requests.
        self._http = httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT_SECONDS)

    async def close(self) -> None:
        await self._http.aclose()

    def _csrf(self) -> str:
        token = self._http.cookies.get(CSRF_COOKIE, path="/admin")
        if not token:
            raise DemoError("admin console: the login page set no CSRF cookie")
        return token

    async def sign_in(self, token: str) -> None:
        page = await self._http.get("/admin/login")
        if page.status_code != 200:
            raise DemoError(f"admin console: GET /admin/login returned HTTP {page.status_code}")
        response = await self._http.post(
            "/admin/login",
            data={"csrf_token": self._csrf(), "token": token, "next": "/admin/verifications"},
        )
        if response.status_code != 303:
            raise DemoError(f"admin console: sign-in returned HTTP {response.status_code}")

    async def queue_lists(self, submission_id: str) -> bool:
        """Tell whether the pending queue's first page links to the submission."""
        page = await self._http.get("/admin/verifications", params={"status": "pending"})
        if page.status_code != 200:
            raise DemoError(f"admin console: the queue returned HTTP {page.status_code}")
        return f"/admin/verifications/{submission_id}" in page.text

    async def approve(self, submission_id: str, *, cpf: str) -> str:
        """Open the submission and approve it with the CPF read off the document. Return the
        page the console redirects to."""
        detail = await self._http.get(f"/admin/verifications/{submission_id}")
        if detail.status_code != 200:
            raise DemoError(
                f"admin console: submission {submission_id} returned HTTP {detail.status_code}"
            )
        response = await self._http.post(
            f"/admin/verifications/{submission_id}/approve",
            data={"csrf_token": self._csrf(), "cpf": cpf},
        )
        if response.status_code != 303:
            raise DemoError(
                f"admin console: approving {submission_id} returned HTTP {response.status_code}"
            )
        return response.headers.get("location", "")
