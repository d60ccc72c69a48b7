import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow


def test_health_reports_database_and_index(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["index"]["detail"].startswith("54 articles")
