"""Local stand-in for the Correios token service and the SRO Rastro API.

It speaks the HTTP protocol of ``api.correios.com.br`` for the two calls TaskGo makes.
It enforces Basic auth and the postal card on the token call, and a bearer token that
expires at ``expiraEm`` on the objects call. It accepts at most 50 codes per request and
``resultado`` in T/U/P, returns SRO-019/SRO-020 messages for invalid and unknown objects,
and sends ``{"msgs": [...]}`` error bodies. Tests steer it with the knobs below
(``fail_next``, ``omit_codes``, ``rate_limit``, ``token_ttl``, ``clock``, ``with_address``
on an event) and read ``requests``.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

BRASILIA = timezone(timedelta(hours=-3))
_S10 = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")


@dataclass
class RecordedRequest:
    method: str
    path: str
    codes: list[str]
    status: int


@dataclass
class StandinEvent:
    """One SRO event; ``local_time`` is the unit's wall-clock time, as SRO sends it."""

    codigo: str
    tipo: str
    descricao: str
    local_time: datetime
    cidade: str = "SAO PAULO"
    uf: str = "SP"
    # SRO leaves the unit's address out of some responses. False serves the event that way.
    with_address: bool = True

    def to_json(self) -> dict[str, Any]:
        unit: dict[str, Any] = {"codSro": "00000000", "tipo": "Unidade de Tratamento"}
        if self.with_address:
            unit["endereco"] = {"cidade": self.cidade, "uf": self.uf}
        return {
            "codigo": self.codigo,
            "tipo": self.tipo,
            "dtHrCriado": self.local_time.strftime("%Y-%m-%dT%H:%M:%S"),
            "descricao": self.descricao,
            "unidade": unit,
        }


@dataclass
class CorreiosStandin:
    user: str = "taskgo"
    access_code: str = "access-code-123"
    postal_card: str = "0067599079"
    token_ttl: timedelta = timedelta(hours=24)
    # Token-bucket limit on every request, as the Correios gateway applies per key.
    rate_limit: float | None = None
    rate_burst: int = 5
    # The gateway's clock for the rate limit and token expiry. A test that checks a
    # client-side limiter against the rate limit passes the limiter's manual clock here.
    # The gateway then counts each request at the instant the limiter released it, so
    # the check does not depend on how long a loaded machine takes to deliver it.
    clock: Callable[[], float] = time.monotonic
    objects: dict[str, list[StandinEvent]] = field(default_factory=dict)
    omit_codes: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    tokens_issued: int = 0

    def __post_init__(self) -> None:
        self._tokens: dict[str, float] = {}
        self._failures: list[tuple[str, int, dict[str, str], bytes | None]] = []
        self._lock = threading.Lock()
        self._bucket = float(self.rate_burst)
        # Set by the first rate-limited request, which finds the bucket full.
        self._bucket_updated: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- knobs ---

    def add_events(self, code: str, *events: StandinEvent) -> None:
        with self._lock:
            self.objects.setdefault(code, []).extend(events)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        path: str = "objetos",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> None:
        """Fail ``times`` requests whose path contains ``path`` with ``status``.

        The first ``after`` matching requests are served normally (status 0 marks them).
        ``body`` replaces the JSON error body with these bytes, sent as they are.
        """
        with self._lock:
            self._failures.extend([(path, 0, {}, None)] * after)
            self._failures.extend([(path, status, headers or {}, body)] * times)

    def expire_all_tokens(self) -> None:
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = 0.0

    def objects_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if "srorastro" in request.path]

    # --- lifecycle ---

    def start(self) -> str:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start_site())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_site())
            loop.close()

        self._thread = threading.Thread(target=run, name="correios-standin", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10):
            raise RuntimeError("Correios stand-in did not start within 10 seconds")
        return self.base_url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _start_site(self) -> None:
        app = web.Application()
        app.router.add_post("/token/v1/autentica/cartaopostagem", self._token)
        app.router.add_get("/srorastro/v1/objetos", self._objects)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{port}"

    async def _stop_site(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- handlers ---

    async def _token(self, request: web.Request) -> web.Response:
        early = self._early_answer(request, codes=[])
        if early is not None:
            return early

        if not self._basic_auth_ok(request.headers.get("Authorization", "")):
            return self._error(request, 401, "GTW-001: Credenciais inválidas.", codes=[])
        try:
            body = await request.json()
        except ValueError:
            return self._error(request, 400, "Corpo da requisição inválido.", codes=[])
        if not isinstance(body, dict) or not isinstance(body.get("numero"), str):
            return self._error(request, 400, "Informe o número do cartão de postagem.", codes=[])
        if body["numero"] != self.postal_card:
            return self._error(
                request, 403, "Cartão de postagem não pertence ao usuário.", codes=[]
            )

        token = secrets.token_urlsafe(32)
        issued = datetime.now(BRASILIA).replace(microsecond=0, tzinfo=None)
        expires = issued + self.token_ttl
        with self._lock:
            self._tokens[token] = self.clock() + self.token_ttl.total_seconds()
            self.tokens_issued += 1
        self._record(request, 201, codes=[])
        return web.json_response(
            {
                "ambiente": "HOMOLOGACAO",
                "id": self.user,
                "perfil": "PJ",
                "cnpj": "00000000000191",
                "cartaoPostagem": {"numero": self.postal_card, "contrato": "9912208555", "dr": 10},
                "emissao": issued.isoformat(),
                "expiraEm": expires.isoformat(),
                "zoneOffset": "-03:00",
                "token": token,
            },
            status=201,
        )

    async def _objects(self, request: web.Request) -> web.Response:
        codes = [
            part.strip().upper()
            for value in request.query.getall("codigosObjetos", [])
            for part in value.split(",")
            if part.strip()
        ]
        early = self._early_answer(request, codes=codes)
        if early is not None:
            return early

        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            return self._error(request, 401, "GTW-005: Token não informado.", codes=codes)
        with self._lock:
            expires_at = self._tokens.get(authorization.removeprefix("Bearer "))
        if expires_at is None:
            return self._error(request, 401, "GTW-006: Token inválido.", codes=codes)
        if self.clock() >= expires_at:
            return self._error(request, 401, "GTW-007: Token expirado.", codes=codes)

        result = request.query.get("resultado")
        if result not in ("T", "U", "P"):
            return self._error(request, 400, "Parâmetro resultado deve ser T, U ou P.", codes=codes)
        if not codes:
            return self._error(request, 400, "Informe ao menos um código de objeto.", codes=codes)
        if len(codes) > 50:
            return self._error(
                request, 400, "SRO-010: Quantidade máxima de 50 objetos excedida.", codes=codes
            )

        answer = [self._object_json(code, result) for code in codes if code not in self.omit_codes]
        self._record(request, 200, codes=codes)
        return web.json_response({"versao": "1.0.0", "quantidade": len(answer), "objetos": answer})

    def _object_json(self, code: str, result: str) -> dict[str, Any]:
        if not _S10.fullmatch(code):
            return {"codObjeto": code, "mensagem": "SRO-019: Objeto inválido"}
        with self._lock:
            events = list(self.objects.get(code, []))
        if not events:
            return {
                "codObjeto": code,
                "mensagem": "SRO-020: Objeto não encontrado na base de dados dos Correios.",
            }
        newest_first = sorted(events, key=lambda event: event.local_time, reverse=True)
        if result == "U":
            newest_first = newest_first[:1]
        elif result == "P":
            newest_first = newest_first[-1:]
        return {
            "codObjeto": code,
            "tipoPostal": {
                "sigla": code[:2],
                "descricao": "ETIQUETA LOGICA PAC",
                "categoria": "ENCOMENDA PAC",
            },
            "dtPrevista": (events[0].local_time + timedelta(days=7)).strftime("%Y-%m-%dT23:59:59"),
            "modalidade": "F",
            "formato": "Pacote",
            "eventos": [event.to_json() for event in newest_first],
        }

    # --- helpers ---

    def _early_answer(self, request: web.Request, *, codes: list[str]) -> web.Response | None:
        """Apply injected failures and the rate limit before any other check."""
        with self._lock:
            injected = next(
                (
                    index
                    for index, failure in enumerate(self._failures)
                    if failure[0] in request.path
                ),
                None,
            )
            if injected is not None:
                _, status, headers, body = self._failures.pop(injected)
            else:
                status, headers, body = 0, {}, None
            limited = status == 0 and not self._take_rate_token()
        if limited:
            status, headers = 429, {"Retry-After": "1"}
        if status == 0:
            return None
        self._record(request, status, codes=codes)
        if body is not None:
            return web.Response(
                status=status, body=body, headers={"Content-Type": "application/json", **headers}
            )
        if status == 429:
            # The Correios gateway sends its 429 with an empty body.
            return web.Response(status=429, headers=headers)
        return web.json_response(
            self._message_body(request, f"Falha simulada {status}."), status=status, headers=headers
        )

    def _take_rate_token(self) -> bool:
        if self.rate_limit is None:
            return True
        now = self.clock()
        if self._bucket_updated is None:
            self._bucket = float(self.rate_burst)
        else:
            refill = (now - self._bucket_updated) * self.rate_limit
            self._bucket = min(self.rate_burst, self._bucket + refill)
        self._bucket_updated = now
        if self._bucket >= 1:
            self._bucket -= 1
            return True
        return False

    def _basic_auth_ok(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        user, _, code = decoded.partition(":")
        return secrets.compare_digest(user, self.user) and secrets.compare_digest(
            code, self.access_code
        )

    def _error(
        self, request: web.Request, status: int, message: str, *, codes: list[str]
    ) -> web.Response:
        self._record(request, status, codes=codes)
        return web.json_response(self._message_body(request, message), status=status)

    @staticmethod
    def _message_body(request: web.Request, message: str) -> dict[str, Any]:
        return {
            "msgs": [message],
            "date": datetime.now(UTC).isoformat(),
            "method": request.method,
            "path": request.path,
        }

    def _record(self, request: web.Request, status: int, *, codes: Iterable[str]) -> None:
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method, path=request.path, codes=list(codes), status=status
                )
            )
