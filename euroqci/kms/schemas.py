"""Request and response bodies: ETSI GS QKD 014 V1.1.1 (Tables 9-13) and the direct-link
KME-to-KME notification. Field names are the standard's, case included."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

# ---------------------------------------------------------------- ETSI GS QKD 014 ----


class Status(BaseModel):
    """Table 9: the answer of Get status."""

    source_KME_ID: str
    target_KME_ID: str
    master_SAE_ID: str
    slave_SAE_ID: str
    key_size: int
    stored_key_count: int
    max_key_count: int
    max_key_per_request: int
    max_key_size: int
    min_key_size: int
    max_SAE_ID_count: int
    status_extension: dict[str, Any] | None = None


class KeyRequest(BaseModel):
    """Table 10: the body of Get key (POST); every field optional."""

    number: StrictInt | None = None
    size: StrictInt | None = None
    additional_slave_SAE_IDs: list[str] | None = None
    extension_mandatory: list[dict[str, Any]] | None = None
    extension_optional: list[dict[str, Any]] | None = None


class Key(BaseModel):
    """One key of Table 11: UUID and base64 key data."""

    key_ID: str
    key_ID_extension: dict[str, Any] | None = None
    key: str
    key_extension: dict[str, Any] | None = None

    def __repr__(self) -> str:  # the key itself never appears in a repr
        return f"Key(key_ID={self.key_ID!r})"

    __str__ = __repr__


class KeyContainer(BaseModel):
    """Table 11: the answer of Get key and Get key with key IDs."""

    keys: list[Key]
    key_container_extension: dict[str, Any] | None = None


class KeyIdItem(BaseModel):
    key_ID: str
    key_ID_extension: dict[str, Any] | None = None


class KeyIDs(BaseModel):
    """Table 12: the body of Get key with key IDs (POST)."""

    key_IDs: list[KeyIdItem]
    key_IDs_extension: dict[str, Any] | None = None


class Error(BaseModel):
    """Table 13: every error answer (401 included)."""

    message: str
    details: list[dict[str, Any]] | None = None


# ---------------------------------------------------- direct-link KME-to-KME notice ----


class PeerKey(BaseModel):
    """A key the master KME made from chunks of the shared link (optionally OTP-sent)."""

    model_config = ConfigDict(extra="forbid")

    key_ID: str
    chunk_IDs: list[str] = Field(min_length=1)
    size: StrictInt = Field(gt=0, description="key size in bits (a multiple of 8)")
    otp: str | None = Field(None, description="base64 of key XOR chunks (multicast)")
    master_SAE_ID: str
    slave_SAE_IDs: list[str] = Field(min_length=1)

    def __repr__(self) -> str:
        return f"PeerKey(key_ID={self.key_ID!r}, chunks={len(self.chunk_IDs)})"

    __str__ = __repr__


class PeerKeys(BaseModel):
    """``POST /peer/v1/keys``: keys announced by the KME at the other end of a QKD link."""

    model_config = ConfigDict(extra="forbid")

    keys: list[PeerKey] = Field(min_length=1)


class PeerResult(BaseModel):
    key_ID: str
    stored: bool
    reason: str | None = None


class PeerKeysResult(BaseModel):
    results: list[PeerResult]
