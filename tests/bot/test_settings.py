import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_environment_variables_configure_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://kefu@db/kefu")
    monkeypatch.setenv("KEFU_ENCODER", "all-minilm-l6-v2")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://kefu@db/kefu"
    assert settings.encoder == "all-minilm-l6-v2"


def test_production_refuses_default_secrets() -> None:
    with pytest.raises(ValidationError, match="KEFU_SECRET_KEY must be set"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="KEFU_SERVICE_TOKEN must be set"):
        Settings(environment="production", secret_key="s3cret-value")
    assert Settings(environment="production", secret_key="a", service_token="b").service_token
