from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import PROJECT_ROOT, Settings


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


@pytest.mark.parametrize(
    ("secret_key", "service_token"),
    [
        ("", "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5"),  # empty: HMAC with an empty key
        ("a", "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5"),
        ("k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5", "x"),
        ("ab" * 20, "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5"),  # long, but two characters
    ],
)
def test_production_refuses_weak_secrets(secret_key: str, service_token: str) -> None:
    with pytest.raises(ValidationError, match="too weak for production"):
        Settings(environment="production", secret_key=secret_key, service_token=service_token)


def test_production_accepts_strong_secrets_and_marks_the_cookie_secure() -> None:
    strong = "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5"
    settings = Settings(environment="production", secret_key=strong, service_token=strong[::-1])
    assert settings.cookie_secure
    assert not Settings(environment="development").cookie_secure


def test_rasas_token_unset_is_derived_from_the_service_token_without_revealing_it() -> None:
    token = Settings(service_token="service-token-one").rasa_token
    assert token == Settings(service_token="service-token-one").rasa_token  # every process agrees
    assert token != Settings(service_token="service-token-two").rasa_token
    assert "service-token-one" not in token and len(token) >= 32
    assert Settings(rasa_token="given-token").rasa_token == "given-token"


def test_production_refuses_a_weak_rasa_token() -> None:
    strong = "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5"
    with pytest.raises(ValidationError, match="KEFU_RASA_TOKEN is too weak"):
        Settings(
            environment="production", secret_key=strong, service_token=strong[::-1], rasa_token="x"
        )


def test_trusted_proxies_are_addresses_or_networks_never_everyone() -> None:
    assert Settings(trusted_proxies=["10.0.0.5", "10.1.0.0/16", "::1"]).trusted_proxies
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(trusted_proxies=["*"])


def _without_state_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEFU_VAR_DIR", "DATABASE_URL", "KEFU_INDEX_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_var_is_the_projects_whatever_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_state_settings(monkeypatch)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.var_dir == PROJECT_ROOT / "var"
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'kefu.db'}"
    assert settings.index_dir == PROJECT_ROOT / "var" / "index"


def test_kefu_var_dir_moves_the_database_and_the_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_state_settings(monkeypatch)
    monkeypatch.setenv("KEFU_VAR_DIR", str(tmp_path / "state"))
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'state' / 'kefu.db'}"
    assert settings.index_dir == tmp_path / "state" / "index"
    # Set on their own, they stay as given.
    monkeypatch.setenv("KEFU_INDEX_DIR", "/srv/index")
    assert Settings().index_dir == Path("/srv/index")


def test_several_rasa_addresses_are_a_comma_separated_list() -> None:
    settings = Settings(rasa_url=" http://127.0.0.1:5005 , http://127.0.0.1:5006,")
    assert settings.rasa_urls == ["http://127.0.0.1:5005", "http://127.0.0.1:5006"]
    assert Settings().rasa_urls == ["http://127.0.0.1:5005"]
