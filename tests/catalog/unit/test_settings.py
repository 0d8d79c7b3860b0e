"""Catalog settings: which S3 endpoint the server uses and which it hands to engines."""

from __future__ import annotations

from vxp.catalog.settings import Settings

BASE = {
    "VXP_CATALOG_LAKEFS_ENDPOINT": "http://lakefs:8000",
    "VXP_CATALOG_WAREHOUSE_ROOT": "s3://vxp-warehouse",
    "VXP_CATALOG_TOKEN_SECRET": "k",
    "VXP_CATALOG_S3_ENDPOINT": "http://minio:9000",
    "VXP_CATALOG_S3_ACCESS_KEY_ID": "id",
    "VXP_CATALOG_S3_SECRET_ACCESS_KEY": "secret",
}


def test_engines_get_the_client_endpoint_and_the_server_keeps_its_own() -> None:
    settings = Settings.from_env(
        {**BASE, "VXP_CATALOG_S3_CLIENT_ENDPOINT": "http://vxp.example.org:9000"}
    )
    assert settings.s3 is not None
    assert settings.s3.client_endpoint == "http://vxp.example.org:9000"
    own, handed = settings.file_io_properties(), settings.client_config()
    assert own["s3.endpoint"] == "http://minio:9000"
    assert handed["s3.endpoint"] == "http://vxp.example.org:9000"
    # everything else engines get is what the server uses
    assert {k: v for k, v in own.items() if k != "s3.endpoint"} == {
        k: v for k, v in handed.items() if k != "s3.endpoint"
    }


def test_without_a_client_endpoint_engines_get_the_servers() -> None:
    for env in (BASE, {**BASE, "VXP_CATALOG_S3_CLIENT_ENDPOINT": ""}):
        settings = Settings.from_env(env)
        assert settings.s3 is not None and settings.s3.client_endpoint is None
        assert settings.client_config() == settings.file_io_properties()
        assert settings.client_config()["s3.endpoint"] == "http://minio:9000"


def test_a_file_warehouse_hands_engines_no_s3_settings() -> None:
    env = {k: v for k, v in BASE.items() if not k.startswith("VXP_CATALOG_S3_")}
    settings = Settings.from_env({**env, "VXP_CATALOG_WAREHOUSE_ROOT": "file:///w"})
    assert settings.client_config() == {} == settings.file_io_properties()
