"""Vertex AI: project and location in the path, a service account's token, clear refusals."""

from __future__ import annotations

import httpx
import pytest

from tests.emulators.gemini import GeminiEmulator

CHAT = "/api/engine/chat/vertexai"


def test_project_location_and_token(client: httpx.Client, vertex_emulator: GeminiEmulator) -> None:
    r = client.post(CHAT, json={"model": "gemini-2.5-flash", "chat_input": "hi"})
    assert r.status_code == 200, r.text
    path = vertex_emulator.paths[-1]
    assert "/projects/emulated-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:" in path
    assert vertex_emulator.headers[-1]["authorization"] == "Bearer ya29.emulated-access-token"


def test_missing_project_is_a_clear_400(client: httpx.Client, vertex_emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    r = client.post(CHAT, json={"model": "gemini-2.5-flash", "chat_input": "hi"})
    assert r.status_code == 400 and "GOOGLE_CLOUD_PROJECT" in r.json()["error"]["message"]
    detail = client.get("/api/engine/providers", params={"detail": "true"}).json()["vertexai"]
    assert detail["ready"] is False and detail["missing"] == ["GOOGLE_CLOUD_PROJECT"]


def test_unusable_credentials_are_a_clear_401(client: httpx.Client, vertex_emulator, monkeypatch, tmp_path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "service_account"}')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(broken))
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "asia-east1")  # a new client, so the credentials are loaded anew
    r = client.post(CHAT, json={"model": "gemini-2.5-flash", "chat_input": "hi"})
    assert r.status_code == 401 and "credentials" in r.json()["error"]["message"].lower()
