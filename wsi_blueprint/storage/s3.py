"""`s3://bucket/prefix`: list with ListObjectsV2, read through presigned GET URLs.

botocore only signs and lists; the bytes travel through `requests` like every other store, so
one range reader, one pool and one set of retries serve S3, MinIO and any signed URL alike.
"""

import re
import threading
import time

import botocore.config
import botocore.exceptions
import botocore.session

from ..counters import Counters
from ..errors import StoreError, StoreTimeout, StoreUnavailable
from ..slide_ids import is_hidden, validate_slide_id
from .base import ObjectInfo, Page, Version
from .http_reader import HTTPObjectStore, HTTPRangeReader, ReaderOptions, new_session
from .reachability import REACHABILITY, reason_of

_ERROR_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")


def missing_bucket(bucket: str) -> StoreError:
    """A bucket that does not exist is the store's configuration at fault, not the slide."""
    return StoreError(f"the S3 bucket {bucket!r} does not exist (check WSI_STORE and "
                      "WSI_S3_ENDPOINT_URL)")


def _store_error(exc: Exception, bucket: str, endpoint: str) -> StoreError:
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError):
        REACHABILITY.failed(endpoint, "connection timed out")
    elif isinstance(exc, botocore.exceptions.EndpointConnectionError):
        REACHABILITY.failed(endpoint, reason_of(exc))
    if isinstance(exc, (botocore.exceptions.ReadTimeoutError,
                        botocore.exceptions.ConnectTimeoutError)):
        return StoreTimeout("S3 did not answer in time")
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return StoreUnavailable("S3 could not be reached")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return StoreError("no AWS credentials are configured for S3")
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response["Error"].get("Code")
        if code == "NoSuchBucket":
            return missing_bucket(bucket)
        return StoreError(f"S3 refused the request: {code}")
    return StoreError("S3 request failed")


class S3Store(HTTPObjectStore):
    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str, region: str,
                 presign_expires: int, pool_size: int, options: ReaderOptions,
                 counters: Counters):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.name = f"s3://{bucket}/{self.prefix}"
        self._expires = presign_expires
        self._options = options
        self._counters = counters
        self._session = new_session(pool_size)
        config = botocore.config.Config(
            signature_version="s3v4",
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            retries={"max_attempts": options.retries + 1, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint_url else {},
        )
        self._client = botocore.session.get_session().create_client(
            "s3", region_name=region, endpoint_url=endpoint_url or None, config=config)
        self._signed: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def presigned_url(self, slide_id: str, refresh: bool = False) -> str:
        """A GET URL for the object, reused until a tenth of its lifetime remains."""
        key = self.prefix + slide_id
        now = time.monotonic()
        with self._lock:
            cached = self._signed.get(key)
        if cached and not refresh and cached[1] - now > self._expires / 10:
            return cached[0]
        try:
            url = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=self._expires)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _store_error(exc, self.bucket, self._client.meta.endpoint_url) from None
        self._counters.inc("store_presigns")
        with self._lock:
            if len(self._signed) > 100_000:
                self._signed.clear()
            self._signed[key] = (url, now + self._expires)
        return url

    def _reader(self, slide_id: str, options: ReaderOptions,
                known: Version | None = None) -> HTTPRangeReader:
        validate_slide_id(slide_id)
        return HTTPRangeReader(slide_id, lambda refresh: self.presigned_url(slide_id, refresh),
                               self._session, options, self._counters,
                               not_found=self._not_found, known=known)

    def _not_found(self, body: bytes) -> StoreError | None:
        """S3 answers 404 for a missing bucket too; its error document tells which."""
        code = _ERROR_CODE.search(body)
        return missing_bucket(self.bucket) if code and code.group(1) == b"NoSuchBucket" else None

    def list(self, prefix: str = "", limit: int = 100, cursor: str | None = None,
             delimiter: str | None = None) -> Page:
        """Keyset pagination: the cursor is the last id (or folder) returned, passed as
        StartAfter, so a page is filled to `limit` even where hidden keys were skipped."""
        slides: list[ObjectInfo] = []
        folders: list[str] = []
        last = None
        start_after = self.prefix + cursor if cursor else ""
        if cursor and delimiter and cursor.endswith(delimiter):
            # After a folder means after every key inside it: U+10FFFF sorts after any
            # character a key can hold.
            start_after += "\U0010ffff"
        token = None
        while len(slides) + len(folders) < limit:
            answer = self._list_objects(self.prefix + prefix, limit - len(slides) - len(folders),
                                        start_after, delimiter, token)
            entries = sorted([(item["Key"], item) for item in answer.get("Contents", [])]
                             + [(p["Prefix"], None) for p in answer.get("CommonPrefixes", [])],
                             key=lambda entry: entry[0])
            for key, item in entries:
                slide_id = key[len(self.prefix):]
                if not slide_id or is_hidden(slide_id):
                    continue
                if item is None:
                    folders.append(slide_id)
                elif slide_id.endswith("/"):
                    continue  # a zero-byte "folder" marker some tools write
                else:
                    slides.append(ObjectInfo(slide_id, item["Size"],
                                             item["LastModified"].isoformat()))
                last = slide_id
            if not answer.get("IsTruncated") or not entries:
                return Page(slides, None, folders)
            token = answer.get("NextContinuationToken")
        return Page(slides, last, folders)

    def _list_objects(self, prefix: str, limit: int, start_after: str, delimiter: str | None,
                      token: str | None) -> dict:
        self._counters.inc("store_requests", kind="list")
        arguments = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": limit}
        if token:
            arguments["ContinuationToken"] = token
        elif start_after:
            arguments["StartAfter"] = start_after
        if delimiter:
            arguments["Delimiter"] = delimiter
        try:
            answer = self._client.list_objects_v2(**arguments)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _store_error(exc, self.bucket, self._client.meta.endpoint_url) from None
        REACHABILITY.answered(self._client.meta.endpoint_url)
        return answer
