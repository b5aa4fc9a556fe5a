"""Response bodies of the receiver API (they make the OpenAPI schema exact)."""

from typing import Literal

from pydantic import BaseModel, Field


class StoredDropModel(BaseModel):
    day: str = Field(description="UTC day (YYYY-MM-DD): the landing folder")
    drop_id: str = Field(description="first 16 hex digits of the sha256 of the uncompressed sacct text")
    rows: int = Field(ge=0, description="data rows after the header")
    duplicate: bool = Field(description="true if this exact drop was already stored (nothing written)")


class IngestResponse(BaseModel):
    status: Literal["ok"]
    cluster: str
    drop_id: str | None = Field(description="the (first, by day) stored drop; null when the body held no jobs")
    rows: int = Field(ge=0, description="data rows accepted over all drops of this request")
    duplicate: bool = Field(description="true if every drop of this request was already stored")
    drops: list[StoredDropModel] = Field(description="one entry per drop (a seed JSON body is split by UTC day)")


class ErrorResponse(BaseModel):
    detail: str = Field(description="what is wrong, where, and what to do")


class ClusterHealth(BaseModel):
    latest_day: str | None = Field(description="the newest landing day folder (YYYY-MM-DD)")
    last_drop_at: str | None = Field(description="UTC time a drop last arrived for this cluster (folder mtime)")


class HealthResponse(BaseModel):
    """Without a valid X-API-Key only ``status`` and ``time``; with one, the details (clusters the key may post for)."""

    status: Literal["healthy", "unhealthy"]
    time: str = Field(description="server time, UTC")
    version: str | None = Field(default=None, description="with a key only")
    data_dir_writable: bool | None = Field(default=None, description="with a key only")
    detail: str | None = Field(default=None, description="why the receiver is unhealthy (with a key only)")
    clusters: dict[str, ClusterHealth] | None = Field(
        default=None, description="with a key only: the clusters that key may post for"
    )
