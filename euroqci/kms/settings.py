"""Settings of one Key Management Entity: one pydantic-settings object, declared once.

Sources, highest priority first: keyword arguments, environment variables
``EUROQCI_KMS_<FIELD>`` (nested values as JSON, e.g. ``EUROQCI_KMS_SAES='{"bob": "B"}'``),
the YAML or JSON file named by ``config_file`` (argument or ``EUROQCI_KMS_CONFIG_FILE``),
then the defaults below. Every field is documented in ``docs/kms-api.md`` (a test checks it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "EUROQCI_KMS_"


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Values from the YAML/JSON file named by ``config_file`` (init argument or environment)."""

    def __init__(self, settings_cls: type[BaseSettings], init: InitSettingsSource):
        super().__init__(settings_cls)
        self._path = init.init_kwargs.get("config_file") or _env_config_file()

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        if not self._path:
            return {}
        text = Path(self._path).read_text(encoding="utf-8")
        data = json.loads(text) if str(self._path).endswith(".json") else yaml.safe_load(text)
        return dict(data or {})


def _env_config_file() -> str | None:
    import os

    return os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")


class Settings(BaseSettings):
    """Configuration of one KME (ETSI GS QKD 014 server, key store, KME-to-KME links)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    config_file: Path | None = Field(None, description="YAML or JSON file with these settings.")
    kme_id: str = Field("A", min_length=1, description="ID of this KME (CN of its certificate).")
    host: str = Field("127.0.0.1", description="Address the HTTPS server binds.")
    port: int = Field(8443, ge=0, le=65535, description="TCP port of the HTTPS server (0: any).")
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate of this KME (server and KME-to-KME client)."
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of this KME.")
    tls_ca_file: Path | None = Field(
        None, description="PEM CA bundle that signs every SAE and KME certificate."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the key store (e.g. postgresql+psycopg://...); "
        "unset: SQLite file <data_dir>/kme-<kme_id>.sqlite3.",
    )
    data_dir: Path = Field(Path("."), description="Directory of the embedded SQLite store.")
    kmes: dict[str, str] = Field(
        default_factory=dict,
        description="Every KME of the network: KME ID -> base URL (https://host:port).",
    )
    links: list[tuple[str, str]] = Field(
        default_factory=list, description="QKD links between KMEs, as pairs of KME IDs."
    )
    saes: dict[str, str] = Field(
        default_factory=dict, description="Every SAE of the network: SAE ID -> KME ID."
    )
    key_size_bits: int = Field(256, description="Default key size (ETSI 014 key_size).")
    min_key_size_bits: int = Field(64, ge=8, description="Smallest key size served (bits).")
    max_key_size_bits: int = Field(4096, ge=8, description="Largest key size served (bits).")
    chunk_size_bits: int = Field(
        256,
        ge=64,
        description="Link key blocks are cut into chunks of this size; a key uses whole chunks.",
    )
    max_key_per_request: int = Field(128, ge=1, description="Most keys in one enc_keys call.")
    max_key_count: int = Field(
        100_000, ge=1, description="Reported ETSI 014 max_key_count (chunks kept per link)."
    )
    max_sae_id_count: int = Field(
        8, ge=0, description="Most additional_slave_SAE_IDs (0 disables multicast)."
    )
    allow_self_pairing: bool = Field(
        False, description="Let an SAE name itself as slave (single-KME conformance probes)."
    )
    extension_prefix: str = Field(
        "euroqci_", description="Vendor prefix of the extensions (<prefix>route_type, ...)."
    )
    peer_timeout_s: float = Field(5.0, gt=0, description="Timeout of KME-to-KME calls (s).")
    peer_batch_max: int = Field(
        256, ge=1, description="Most keys announced to a peer KME in one call."
    )
    log_level: str = Field("warning", description="uvicorn log level.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(init_settings, InitSettingsSource)
        return init_settings, env_settings, _ConfigFileSource(settings_cls, init_settings)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        for name in ("key_size_bits", "min_key_size_bits", "max_key_size_bits"):
            if getattr(self, name) % 8:
                raise ValueError(f"{name}={getattr(self, name)} must be a multiple of 8")
        if not self.min_key_size_bits <= self.key_size_bits <= self.max_key_size_bits:
            raise ValueError("need min_key_size_bits <= key_size_bits <= max_key_size_bits")
        if self.chunk_size_bits % 8:
            raise ValueError(f"chunk_size_bits={self.chunk_size_bits} must be a multiple of 8")
        clash = set(self.kmes) & set(self.saes)
        if clash:
            raise ValueError(f"IDs used for both a KME and an SAE: {sorted(clash)}")
        known = set(self.kmes) | {self.kme_id}
        for a, b in self.links:
            if a == b or a not in known or b not in known:
                raise ValueError(f"link ({a!r}, {b!r}) must join two different known KMEs")
        for sae, kme in self.saes.items():
            if kme not in known:
                raise ValueError(f"SAE {sae!r} is at unknown KME {kme!r}")
        return self

    @property
    def store_url(self) -> str:
        """The database URL actually used by the key store."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'kme-{self.kme_id}.sqlite3').resolve()}"
