"""Settings of issue "Catalog security": engines' own key pair, limits, secrets kept out of repr."""

from __future__ import annotations

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
