"""KME settings: sources and their priority, validation, documentation, and the PKI command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

from euroqci.cli import main
from euroqci.kms.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "kms-api.md"


def test_every_setting_is_documented_with_its_environment_variable():
    rows = re.findall(r"^\| `(\w+)` \| `(EUROQCI_KMS_\w+)` \|", DOC.read_text(), re.MULTILINE)
    documented = dict(rows)
    for name, field in Settings.model_fields.items():
        assert documented.get(name) == f"EUROQCI_KMS_{name.upper()}", name
        assert field.description, name
    assert set(documented) == set(Settings.model_fields)


def test_priority_is_arguments_then_environment_then_file(tmp_path, monkeypatch):
    config = tmp_path / "kme.yaml"
    config.write_text("kme_id: F\nport: 7000\nkey_size_bits: 512\nkmes: {F: 'https://x:1'}\n")
    monkeypatch.setenv("EUROQCI_KMS_CONFIG_FILE", str(config))
    monkeypatch.setenv("EUROQCI_KMS_PORT", "7100")
    monkeypatch.setenv("EUROQCI_KMS_SAES", '{"alice": "F"}')
    s = Settings(key_size_bits=1024)
    assert (s.kme_id, s.port, s.key_size_bits, s.saes) == ("F", 7100, 1024, {"alice": "F"})
    assert s.store_url.endswith("kme-F.sqlite3") and s.store_url.startswith("sqlite:///")
    json_config = tmp_path / "kme.json"
    json_config.write_text('{"kme_id": "J"}')
    monkeypatch.delenv("EUROQCI_KMS_SAES")
    assert Settings(config_file=json_config).kme_id == "J"


@pytest.mark.parametrize(
    "bad",
    [
        {"key_size_bits": 100},
        {"min_key_size_bits": 512, "key_size_bits": 256},
        {"links": [("A", "Z")]},
        {"saes": {"bob": "Z"}},
        {"kmes": {"A": "https://x:1"}, "saes": {"A": "A"}},
        {"no_such_setting": 1},
    ],
)
def test_inconsistent_settings_are_refused(bad, monkeypatch):
    monkeypatch.delenv("EUROQCI_KMS_CONFIG_FILE", raising=False)
    with pytest.raises(ValidationError):
        Settings(**bad)


def test_pki_command_writes_the_documented_files(tmp_path, capsys):
    assert main(["pki", "init", str(tmp_path), "--kme", "A", "B", "--sae", "alice@A"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "ca-key.pem",
        "ca.pem",
        "kme-A-key.pem",
        "kme-A.pem",
        "kme-B-key.pem",
        "kme-B.pem",
        "sae-alice-key.pem",
        "sae-alice.pem",
    ]
    kme = x509.load_pem_x509_certificate((tmp_path / "kme-A.pem").read_bytes())
    assert kme.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "A"
    san = kme.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    usage = kme.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    sae = x509.load_pem_x509_certificate((tmp_path / "sae-alice.pem").read_bytes())
    assert sae.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert (tmp_path / "sae-alice-key.pem").stat().st_mode & 0o077 == 0
    ca_before = (tmp_path / "ca.pem").read_bytes()
    assert main(["pki", "init", str(tmp_path), "--kme", "A", "--sae", "bob@A"]) == 0
    assert (tmp_path / "ca.pem").read_bytes() == ca_before  # the CA is kept, bob is added
    assert (tmp_path / "sae-bob.pem").exists()
    assert main(["pki", "init", str(tmp_path), "--kme", "A", "--sae", "carol"]) == 2
    assert "SAE_ID@KME_ID" in capsys.readouterr().err
