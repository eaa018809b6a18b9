"""`s3://bucket/prefix` on any S3-compatible store (MinIO, Ceph, cloud) through boto3.

Small files go up with one PutObject, large ones as a multipart upload whose id and
acknowledged parts are kept in the upload journal, so a restarted process resumes: it asks
the store which parts it holds (ListParts), re-reads and re-hashes the whole local file, and
sends only what is missing. Each part carries its MD5 (Content-MD5), so the store rejects a
part damaged on the way; the object's SHA-256 is its metadata (`x-amz-meta-sha256`).
`If-None-Match: *` on PutObject/CompleteMultipartUpload makes the store itself refuse to
replace an object. Object-lock retention is requested when the bucket has object lock on.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3  # type: ignore[import-untyped,unused-ignore]
import botocore.config  # type: ignore[import-untyped,unused-ignore]
import botocore.exceptions  # type: ignore[import-untyped,unused-ignore]

from recording.backend import SHA256_META, ObjectInfo, PartHook
from recording.config import RecordingConfig, setting_name
from recording.errors import (
    IntegrityError,
    ObjectExistsError,
    StorageConfigError,
    StorageError,
    StoreUnavailable,
)
from recording.journal import PartRecord, UploadJournal

T = TypeVar("T")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "Throttling"}
)
_CONNECTION_ERRORS = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
)
_READ_CHUNK = 1024 * 1024


def _transient(exc: Exception) -> bool:
    if isinstance(exc, _CONNECTION_ERRORS):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return status >= 500 or _code(exc) in _TRANSIENT_CODES
    return False


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _call(what: str, fn: Callable[[], T]) -> T:
    """Run one S3 call, turning botocore's errors into our categories."""
    try:
        return fn()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        if _transient(exc):
            raise StoreUnavailable(f"{what}: {exc}") from exc
        raise StorageError(f"{what}: {exc}") from exc


class S3Backend:
    def __init__(self, client: Any, bucket: str, prefix: str, config: RecordingConfig) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.config = config
        self._lock_enabled: bool | None = None

    @classmethod
    def from_config(cls, config: RecordingConfig) -> S3Backend:
        bucket, prefix = parse_s3_url(config.storage_url)
        endpoint = config.s3_endpoint_url
        if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
            raise StorageConfigError(
                setting_name("s3_endpoint_url"), f"expected http(s)://host[:port], got {endpoint!r}"
            )
        client_config = botocore.config.Config(
            s3={"addressing_style": "path" if config.s3_path_style else "virtual"},
            retries={"max_attempts": 2, "mode": "standard"},  # we retry, with backoff, above
            connect_timeout=config.s3_connect_timeout_s,
            read_timeout=config.s3_read_timeout_s,
            # SigV4 for presigned URLs too (botocore may still presign with SigV2): an
            # expiry in seconds the store enforces, X-Amz-Expires.
            signature_version="s3v4",
            request_checksum_calculation=config.s3_checksum_when,
            response_checksum_validation=config.s3_checksum_when,
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=config.s3_region,
            aws_access_key_id=config.s3_access_key,
            aws_secret_access_key=config.s3_secret_key,
            config=client_config,
        )
        return cls(client, bucket, prefix, config)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def url_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except _CONNECTION_ERRORS as exc:
            where = self.config.s3_endpoint_url or "the default AWS endpoint"
            raise StorageConfigError(
                setting_name("s3_endpoint_url"), f"cannot reach {where}: {exc}"
            ) from exc
        except botocore.exceptions.ClientError as exc:
            raise StorageConfigError(*self._explain(exc)) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise StorageConfigError(setting_name("s3_access_key"), "not set") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageConfigError(setting_name("storage_url"), str(exc)) from exc
        self._lock_enabled = self._object_lock_enabled()

    def _explain(self, exc: botocore.exceptions.ClientError) -> tuple[str, str]:
        code = _code(exc)
        if code in ("404", "NoSuchBucket"):
            return setting_name("storage_url"), f"bucket {self.bucket!r} does not exist"
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return setting_name("s3_access_key"), f"access to bucket {self.bucket!r} denied"
        return setting_name("storage_url"), f"bucket {self.bucket!r}: {exc}"

    def _object_lock_enabled(self) -> bool:
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except botocore.exceptions.ClientError:
            return False  # no configuration, or a store without object lock
        lock = conf.get("ObjectLockConfiguration", {})
        return bool(lock.get("ObjectLockEnabled") == "Enabled")

    def head(self, key: str) -> ObjectInfo | None:
        try:
            resp = _call(
                "HeadObject",
                lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)),
            )
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, botocore.exceptions.ClientError) and _code(cause) in (
                "404",
                "NoSuchKey",
                "NotFound",
            ):
                return None
            raise
        meta = {k.lower(): v for k, v in resp.get("Metadata", {}).items()}
        return ObjectInfo(
            key=key,
            size=int(resp["ContentLength"]),
            sha256=meta.get(SHA256_META),
            retain_until=resp.get("ObjectLockRetainUntilDate"),
        )

    def presign_get(self, key: str, seconds: int, *, media_type: str, disposition: str) -> str:
        """A GET URL for one object that the store honours for `seconds`, signed with our
        key (the URL carries the key id and a signature, never the secret); the store
        answers range requests on it itself. `media_type` and `disposition` become the
        answer's Content-Type and Content-Disposition."""
        params = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "ResponseContentType": media_type,
            "ResponseContentDisposition": disposition,
            "ResponseCacheControl": "no-store",
        }
        url: str = _call(
            "presign GetObject",
            lambda: self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=seconds
            ),
        )
        return url

    def read_chunks(self, key: str) -> Iterator[bytes]:
        resp = _call(
            "GetObject", lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        )
        body = resp["Body"]
        try:
            while True:
                chunk = _call("GetObject body", lambda: body.read(_READ_CHUNK))
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    def _object_args(self, journal: UploadJournal) -> dict[str, Any]:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(journal.key),
            "Metadata": {SHA256_META: journal.sha256},
        }
        days = self.config.object_lock_retention_days
        if days > 0:
            if self._lock_enabled is None:
                self._lock_enabled = self._object_lock_enabled()
            if self._lock_enabled:
                args["ObjectLockMode"] = self.config.object_lock_mode
                args["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=days)
        return args

    def upload(self, journal: UploadJournal, on_part: PartHook | None) -> None:
        if journal.size < self.config.multipart_threshold and journal.upload_id is None:
            self._put_single(journal, on_part)
        else:
            self._put_multipart(journal, on_part)

    def _put_single(self, journal: UploadJournal, on_part: PartHook | None) -> None:
        data = journal.source.read_bytes()
        _check_local(journal, len(data), hashlib.sha256(data).hexdigest())
        args = self._object_args(journal)
        self._conditional(
            journal,
            "PutObject",
            lambda: self.client.put_object(
                Body=data, ContentMD5=_md5_b64(data), IfNoneMatch="*", **args
            ),
        )
        if on_part is not None:
            on_part(journal.key, 1)

    def _conditional(self, journal: UploadJournal, what: str, fn: Callable[[], object]) -> None:
        try:
            _call(what, fn)
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, botocore.exceptions.ClientError) and _code(cause) in (
                "PreconditionFailed",
                "412",
            ):
                raise ObjectExistsError(journal.key) from exc
            raise

    def _put_multipart(self, journal: UploadJournal, on_part: PartHook | None) -> None:
        held = self._parts_held(journal)
        if journal.upload_id is None:
            args = self._object_args(journal)
            resp = _call(
                "CreateMultipartUpload", lambda: self.client.create_multipart_upload(**args)
            )
            journal.upload_id = str(resp["UploadId"])
            journal.save()
        digest = hashlib.sha256()
        size = 0
        chunk_size = self.config.multipart_chunk_size
        with journal.source.open("rb") as f:
            number = 0
            while chunk := f.read(chunk_size):
                number += 1
                digest.update(chunk)
                size += len(chunk)
                md5 = hashlib.md5(chunk, usedforsecurity=False)
                if held.get(number) == (len(chunk), md5.hexdigest()):
                    continue
                self._send_part(journal, number, chunk, md5.digest())
                if on_part is not None:
                    on_part(journal.key, number)
        _check_local(journal, size, digest.hexdigest())
        self._complete(journal, number)
        self._apply_retention(journal)

    def _apply_retention(self, journal: UploadJournal) -> None:
        """Set retention on a completed multipart object: not every store carries the lock
        headers of CreateMultipartUpload over to the object (moto does not)."""
        lock = {k: v for k, v in self._object_args(journal).items() if k.startswith("ObjectLock")}
        if not lock:
            return
        retention = {
            "Mode": lock["ObjectLockMode"],
            "RetainUntilDate": lock["ObjectLockRetainUntilDate"],
        }
        key = self._key(journal.key)
        _call(
            "PutObjectRetention",
            lambda: self.client.put_object_retention(
                Bucket=self.bucket, Key=key, Retention=retention
            ),
        )

    def _parts_held(self, journal: UploadJournal) -> dict[int, tuple[int, str]]:
        """The parts the store acknowledges for the journaled upload: {n: (size, md5 hex)}.

        The store, not the journal, is the truth; an upload it no longer knows is restarted."""
        if journal.upload_id is None:
            return {}
        held: dict[int, tuple[int, str]] = {}
        marker = 0
        while True:
            try:
                resp = self._list_parts(journal.key, journal.upload_id, marker)
            except StorageError as exc:
                cause = exc.__cause__
                if isinstance(cause, botocore.exceptions.ClientError) and _code(cause) in (
                    "NoSuchUpload",
                    "404",
                ):
                    journal.reset_multipart()
                    journal.save()
                    return {}
                raise
            for part in resp.get("Parts", []):
                held[int(part["PartNumber"])] = (int(part["Size"]), str(part["ETag"]).strip('"'))
            if not resp.get("IsTruncated"):
                return held
            marker = int(resp["NextPartNumberMarker"])

    def _list_parts(self, key: str, upload_id: str, marker: int) -> Any:
        return _call(
            "ListParts",
            lambda: self.client.list_parts(
                Bucket=self.bucket, Key=self._key(key), UploadId=upload_id, PartNumberMarker=marker
            ),
        )

    def _send_part(self, journal: UploadJournal, number: int, chunk: bytes, md5: bytes) -> None:
        upload_id = journal.upload_id
        resp = _call(
            f"UploadPart {number}",
            lambda: self.client.upload_part(
                Bucket=self.bucket,
                Key=self._key(journal.key),
                UploadId=upload_id,
                PartNumber=number,
                Body=chunk,
                ContentMD5=base64.b64encode(md5).decode(),
            ),
        )
        journal.parts[number] = PartRecord(number, len(chunk), str(resp["ETag"]).strip('"'))
        journal.save()

    def _complete(self, journal: UploadJournal, count: int) -> None:
        held = self._parts_held(journal)
        missing = [n for n in range(1, count + 1) if n not in held]
        if missing:
            raise StoreUnavailable(f"{journal.key}: store lost parts {missing}; sending again")
        parts = [{"PartNumber": n, "ETag": f'"{held[n][1]}"'} for n in range(1, count + 1)]
        upload_id = journal.upload_id
        self._conditional(
            journal,
            "CompleteMultipartUpload",
            lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._key(journal.key),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            ),
        )


def _check_local(journal: UploadJournal, size: int, digest: str) -> None:
    if (size, digest) != (journal.size, journal.sha256):
        raise IntegrityError(
            journal.key,
            f"local file {journal.source} changed: size {size} sha256 {digest}, "
            f"expected {journal.size} {journal.sha256}",
        )


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix"); errors name the setting."""
    rest = url[len("s3://") :] if url.startswith("s3://") else ""
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise StorageConfigError(
            setting_name("storage_url"), f"expected s3://bucket[/prefix], got {url!r}"
        )
    return bucket, prefix.strip("/")
