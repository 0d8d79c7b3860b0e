"""Settings of issue "Catalog security": engines' own key pair, limits, secrets kept out of repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalog.unit.test_settings import BASE
from vxp.catalog.settings import Settings, SettingsError


def test_engines_get_the_client_key_pair_and_the_server_keeps_its_own() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "VXP_CATALOG_S3_CLIENT_ACCESS_KEY_ID": "engines",
            "VXP_CATALOG_S3_CLIENT_SECRET_ACCESS_KEY": "engines-secret",
        }
    )
    assert settings.file_io_properties()["s3.access-key-id"] == "id"
    handed = settings.client_config()
    assert (handed["s3.access-key-id"], handed["s3.secret-access-key"]) == (
        "engines",
        "engines-secret",
    )


def test_half_a_client_key_pair_is_refused() -> None:
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_env({**BASE, "VXP_CATALOG_S3_CLIENT_ACCESS_KEY_ID": "engines"})


def test_limits_come_from_the_environment_and_must_be_positive() -> None:
    settings = Settings.from_env(
        {**BASE, "VXP_CATALOG_MAX_REQUEST_BYTES": "1000", "VXP_CATALOG_MAX_PROPERTY_BYTES": "10"}
    )
    assert (settings.max_request_bytes, settings.max_property_bytes) == (1000, 10)
    assert Settings.from_env(BASE).max_request_bytes == 16 << 20
    with pytest.raises(SettingsError, match="max_property_bytes"):
        Settings.from_env({**BASE, "VXP_CATALOG_MAX_PROPERTY_BYTES": "-1"})


def test_no_secret_in_repr() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "VXP_CATALOG_TOKEN_SECRET": "tok3n-s3cret",
            "VXP_CATALOG_S3_SECRET_ACCESS_KEY": "s3-s3cret",
            "VXP_CATALOG_S3_CLIENT_ACCESS_KEY_ID": "engines",
            "VXP_CATALOG_S3_CLIENT_SECRET_ACCESS_KEY": "client-s3cret",
        }
    )
    text = repr(settings) + str(settings)
    assert "s3cret" not in text


def test_the_token_secret_can_come_from_a_file(tmp_path: Path) -> None:
    env = {k: v for k, v in BASE.items() if k != "VXP_CATALOG_TOKEN_SECRET"}
    secret = tmp_path / "token-secret"
    secret.write_text("from-a-file\n")
    settings = Settings.from_env({**env, "VXP_CATALOG_TOKEN_SECRET_FILE": str(secret)})
    assert settings.token_secret == "from-a-file"  # noqa: S105 - a throwaway test key
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env({**BASE, "VXP_CATALOG_TOKEN_SECRET_FILE": str(secret)})
    with pytest.raises(SettingsError, match="cannot be read"):
        Settings.from_env({**env, "VXP_CATALOG_TOKEN_SECRET_FILE": str(tmp_path / "missing")})
    with pytest.raises(SettingsError, match="is not set"):
        Settings.from_env(env)
