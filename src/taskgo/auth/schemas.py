"""Bodies of the dev token route."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from taskgo.schemas import ApiModel
from taskgo.users.schemas import MeOut, check_name


class DevTokenIn(ApiModel):
    uid: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    role: Literal["client", "partner", "admin"] = "client"
    name: Annotated[str, AfterValidator(check_name)] = Field(default="", max_length=200)


class DevTokenOut(ApiModel):
    token: str
    user: MeOut
