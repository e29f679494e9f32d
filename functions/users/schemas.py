"""Users service request/response models."""
from __future__ import annotations

import uuid
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AgencyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    timezone: str = Field("UTC", description="IANA time zone, e.g. Europe/Berlin")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        if v not in _zones():
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("unknown IANA time zone") from None
        return v


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


class Agency(BaseModel):
    id: uuid.UUID
    name: str
    currency: str
    timezone: str
    owner_user_id: uuid.UUID


class Me(BaseModel):
    user_id: uuid.UUID | None
    agency_id: uuid.UUID | None
    role: Literal["owner", "manager", "chatter"] | None
    display_name: str | None
    email: str | None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    version: str
