"""Where the plant keeps the stations' artifacts: a shared folder or an S3-compatible object store.

The keys are the station's own content-addressed keys (``ab/abcdef...<64 hex>.png``, see
:mod:`inspector.store.artifacts`), so a forwarded record names the same file on the plant store as
on the station, and an upload repeated after an outage is harmless. The forwarder uploads every
artifact a batch of records names *before* it commits the records centrally: a record on the
central database never points at an artifact that is not on the plant store, and a store that is
down holds the whole batch back in the station's spool (nothing is lost, the order is kept).

Reading (``inspector report`` and the review queue on the central database):
:func:`reading_artifacts` gives an :class:`~inspector.store.artifacts.ArtifactStore` over the
shared folder, or over a local cache folder that fetches each S3 object on first use and checks its
bytes against the key's hash.

S3: any S3-compatible server (AWS S3, MinIO, Ceph RGW, Garage, ...), through boto3. Credentials from
the settings, else boto3's usual chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``,
``~/.aws/credentials``, an instance role).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from inspector.core.paths import data_dir
from inspector.store.artifacts import ArtifactStore
from inspector.store.errors import StoreError

log = logging.getLogger(__name__)

CACHE_DIRNAME = "plant-artifact-cache"


class ArtifactStoreUnreachableError(StoreError):
    """The plant's artifact store cannot be reached or refuses this station."""


@dataclass(frozen=True)
class S3Settings:
    """An S3-compatible bucket (the ``central.s3`` block of the plant settings)."""

    bucket: str
    prefix: str = ""  # e.g. "inspector/": objects are <prefix><artifact key>
    endpoint_url: str | None = None  # None: AWS; e.g. https://minio.plant:9000
    region: str | None = None
    access_key_id: str | None = None  # None: boto3's credential chain
    secret_access_key: str | None = None
    ca_bundle: str | None = None  # a private CA for the endpoint's TLS certificate
    addressing_style: str = "path"  # path (MinIO and most on-premises servers) or virtual
    cache_dir: str | None = None  # where readers keep fetched objects (default <data>/plant-artifact-cache)

    def __post_init__(self) -> None:
        if not isinstance(self.bucket, str) or not self.bucket.strip():
            raise ValueError("s3.bucket must be a bucket name")
        if self.addressing_style not in ("path", "virtual", "auto"):
            raise ValueError("s3.addressing_style must be path, virtual or auto")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("s3.access_key_id and s3.secret_access_key go together (or leave both out)")

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")


class ArtifactTarget(Protocol):
    """The plant side of artifacts: what the forwarder uploads to and readers fetch from."""

    where: str

    def has(self, key: str) -> bool: ...

    def upload(self, source: Path, key: str) -> None: ...

    def download(self, key: str, dest: Path) -> bool:
        """Write the object to ``dest``; False when the store does not hold ``key``."""
        ...


class SharedFolder:
    """A folder every station and the QA office mount (NFS, SMB): the station's own file layout."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.files = ArtifactStore(root)
        self.where = str(root)

    def has(self, key: str) -> bool:
        return self.files.exists(key)

    def upload(self, source: Path, key: str) -> None:
        copied = self.files.put_file(source, key[key.index(".") :])
        if copied != key:
            raise StoreError(f"The artifact file {source} does not match its name {key} (damaged?).")

    def download(self, key: str, dest: Path) -> bool:
        path = self.files.path(key)
        if not path.is_file():
            return False
        dest.write_bytes(path.read_bytes())
        return True


class S3Bucket:
    """An S3-compatible bucket through boto3 (one client, safe to share between threads)."""

    def __init__(self, settings: S3Settings, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0):
        import boto3
        from botocore.config import Config

        self.settings = settings
        self.where = settings.where
        self.prefix = settings.prefix
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region or "us-east-1",
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            verify=settings.ca_bundle if settings.ca_bundle else None,
            config=Config(
                connect_timeout=connect_timeout_s,
                read_timeout=read_timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": settings.addressing_style},
            ),
        )

    def _name(self, key: str) -> str:
        return self.prefix + key

    def has(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.settings.bucket, Key=self._name(key))
            return True
        except Exception as error:  # botocore raises ClientError for a missing object
            if _status(error) == 404 and _code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._plain(error) from error

    def upload(self, source: Path, key: str) -> None:
        try:
            with open(source, "rb") as handle:
                self.client.put_object(Bucket=self.settings.bucket, Key=self._name(key), Body=handle)
        except OSError as error:
            if isinstance(error, FileNotFoundError):
                raise StoreError(f"Cannot upload {source}: the file is gone.") from error
            raise self._plain(error) from error
        except Exception as error:
            raise self._plain(error) from error

    def download(self, key: str, dest: Path) -> bool:
        try:
            reply = self.client.get_object(Bucket=self.settings.bucket, Key=self._name(key))
            with open(dest, "wb") as handle:
                for chunk in reply["Body"].iter_chunks(1 << 20):
                    handle.write(chunk)
            return True
        except Exception as error:
            if _code(error) in ("NoSuchKey", "404"):
                return False
            raise self._plain(error) from error

    def _plain(self, error: BaseException) -> ArtifactStoreUnreachableError:
        code = _code(error)
        where = self.where
        if code == "NoSuchBucket" or (code == "404" and _status(error) == 404):
            text = f"The artifact store {where} has no bucket '{self.settings.bucket}' (create it, or fix s3.bucket)"
        elif code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            text = f"The artifact store {where} refused this station's access key ({code}): check s3.access_key_id"
        elif _status(error) is not None:
            text = f"The artifact store {where} answered {code or 'an error'}: {error}"
        else:
            reason = " ".join(str(error).split()) or type(error).__name__
            text = f"Cannot reach the artifact store {where}: {reason}"
        return ArtifactStoreUnreachableError(
            text + ". Nothing is lost: the records wait in this station's spool until their artifacts are uploaded."
        )


def _code(error: BaseException) -> str | None:
    response: Any = getattr(error, "response", None)
    return (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None


def _status(error: BaseException) -> int | None:
    response: Any = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class FetchedArtifacts(ArtifactStore):
    """An artifact store over a local cache folder that fetches missing keys from a plant target.

    Readers (reports, the review queue) ask it for a key's path as they would on a station; the
    first time, the object is downloaded, checked against the hash in its name and renamed into the
    cache (content-addressed: a cached file never goes stale).
    """

    def __init__(self, cache: str | os.PathLike[str], target: ArtifactTarget) -> None:
        super().__init__(cache, fsync=False)
        self.target = target

    def path(self, key: str) -> Path:
        local = super().path(key)
        if not local.is_file():
            try:
                self._fetch(key, local)
            except StoreError as error:
                log.warning("%s", error)
        return local

    def _fetch(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=local.parent, prefix=".tmp-fetch-")
        os.close(fd)
        tmp = Path(name)
        try:
            if not self.target.download(key, tmp):
                return
            digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
            if digest != local.name.split(".", 1)[0]:
                raise StoreError(f"The artifact {key} on {self.target.where} does not match its name (damaged?).")
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)


def plant_target(shared_folder: str | None, s3: S3Settings | None) -> ArtifactTarget | None:
    """The plant artifact store the settings name (None: artifacts stay on the stations)."""
    if s3 is not None:
        return S3Bucket(s3)
    if shared_folder:
        return SharedFolder(shared_folder)
    return None


def reading_artifacts(shared_folder: str | None, s3: S3Settings | None) -> ArtifactStore | None:
    """The artifacts of a central database for readers (None when the settings name no plant store)."""
    if s3 is not None:
        cache = Path(s3.cache_dir) if s3.cache_dir else data_dir() / CACHE_DIRNAME
        return FetchedArtifacts(cache, S3Bucket(s3))
    if shared_folder:
        return ArtifactStore(shared_folder)
    return None
