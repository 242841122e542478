"""Request and response bodies of the partner verification routes."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field

from taskgo.schemas import ApiModel


class SubmitIn(ApiModel):
    document_front: uuid.UUID = Field(description="Upload id (purpose `document`).")
    document_back: uuid.UUID = Field(description="Upload id (purpose `document`).")
    selfie: uuid.UUID = Field(description="Upload id (purpose `selfie`).")


class SubmittedOut(ApiModel):
    id: uuid.UUID
    status: str


class ExtractedOut(ApiModel):
    """Fields read from the document; the CPF is masked (`***.982.247-**`)."""

    name: str | None
    birth_date: date | None
    cpf: str | None


class StatusOut(ApiModel):
    status: str = Field(description="unverified, pending, verified or rejected.")
    submission_id: uuid.UUID | None = None
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    reason: str | None = Field(default=None, description="The admin's reason for a rejection.")
    analysis_complete: bool = Field(
        default=False,
        description="True once the automatic analysis has finished, read or not "
        "(see analysisStatus).",
    )
    analysis_status: str | None = Field(
        default=None,
        description="queued (the images are being analysed), done (read: see extracted), "
        "or manual_review (the images could not be read automatically and an admin checks "
        "them by hand; nothing to do for the partner).",
    )
    extracted: ExtractedOut | None = None
