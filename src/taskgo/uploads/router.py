"""HTTP routes for uploading images and reading them back."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from taskgo.auth.deps import CurrentUser, current_user
from taskgo.db.session import DbSession, commit
from taskgo.errors import AppError
from taskgo.uploads import service
from taskgo.uploads.images import MAX_UPLOAD_BYTES
from taskgo.uploads.models import Upload, UploadPurpose
from taskgo.uploads.schemas import UploadOut
from taskgo.users.models import User

router = APIRouter(prefix="/api", tags=["uploads"])

# Room for the multipart boundaries, part headers and the `purpose` field.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 64 * 1024

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "JPEG, PNG, WebP or HEIC image, at most 10 MB.",
                        },
                        "purpose": {"type": "string", "enum": [p.value for p in UploadPurpose]},
                    },
                }
            }
        },
    }
}


def _check_request_size(request: Request) -> None:
    # The body is read only after this check, so an oversized request costs no more than
    # its headers. A length is required because a chunked body has no size up front.
    declared = request.headers.get("content-length")
    if declared is None:
        raise AppError("upload.length_required", status=411)
    if not declared.isdigit():
        raise AppError("request.bad_request", status=400)
    if int(declared) > MAX_REQUEST_BYTES:
        raise AppError(
            "upload.file_too_large",
            status=413,
            field="file",
            max_megabytes=MAX_UPLOAD_BYTES // (1024 * 1024),
        )
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise AppError("upload.multipart_required", status=415)


def upload_out(upload: Upload) -> UploadOut:
    return UploadOut(
        upload_id=upload.id,
        url=service.upload_url(upload.id),
        purpose=upload.purpose,
        content_type=upload.content_type,
        width=upload.width,
        height=upload.height,
        size_bytes=upload.size_bytes,
        sha256=upload.sha256,
    )


@router.post(
    "/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadOut,
    openapi_extra=_UPLOAD_BODY,
)
async def create_upload(request: Request, user: CurrentUser, session: DbSession) -> UploadOut:
    """Upload an image (multipart `file` and `purpose`); it is stored re-encoded without
    metadata. `document` and `selfie` uploads are private to the uploader and admins."""
    _check_request_size(request)
    # The caller is authenticated, so the transaction that did it ends here and its
    # connection goes back to the pool. Reading the body and processing the image can
    # take seconds (a slow client, a 50-megapixel image waiting for a decode slot), and
    # holding a connection all that time let a burst of uploads starve every other request.
    await commit(session)
    try:
        form = await request.form(max_files=1, max_fields=4)
    except StarletteHTTPException as exc:
        raise AppError("upload.invalid_form", status=400) from exc

    try:
        purpose = service.parse_purpose(_text_field(form.get("purpose")))
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise AppError("upload.file_missing", field="file")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
    finally:
        await form.close()

    image = await service.prepare_image(data)
    # The session starts a new transaction here, for the row only.
    upload = await service.store_upload(session, owner=user, purpose=purpose, image=image)
    return upload_out(upload)


def _text_field(value: object) -> str | None:
    return value if isinstance(value, str) else None


def file_response(upload: Upload, data: bytes, *, request: Request) -> Response:
    """Build the response for a stored image, with headers that stop browsers from
    treating it as anything but an image and from caching private files."""
    etag = f'"{upload.sha256}"'
    extension = upload.storage_key.rsplit(".", 1)[-1]
    headers = {
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f'inline; filename="{upload.id}.{extension}"',
        "Cache-Control": (
            "private, no-store" if upload.is_private else "public, max-age=31536000, immutable"
        ),
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=data, media_type=upload.content_type, headers=headers)


@router.get(
    "/uploads/{upload_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_upload_file(upload_id: uuid.UUID, request: Request, session: DbSession) -> Response:
    """Return the image. Public images need no token; private ones (`document`, `selfie`)
    are served only to their owner and to admins, and 404 to anyone else."""
    upload = await service.get_upload(session, upload_id)
    if upload.is_private:
        # A caller without a valid token gets the same 404 as for an id that does not
        # exist, so that a 401 cannot tell that a private image has this id.
        try:
            user: User | None = await current_user(request, session)
        except AppError as exc:
            if exc.status != 401:
                raise
            user = None
        if user is None or not service.can_read(upload, user):
            raise AppError("upload.not_found", status=404)
    data = await service.read_file(upload)
    return file_response(upload, data, request=request)
