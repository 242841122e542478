"""Response bodies of the upload routes."""

from __future__ import annotations

import uuid

from taskgo.schemas import ApiModel


class UploadOut(ApiModel):
    upload_id: uuid.UUID
    url: str
    purpose: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str
