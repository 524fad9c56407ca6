"""The Slack forwarder Lambda, run here with a real HTTP server and moto's Secrets Manager."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
from moto import mock_aws

from infra.lambdas import slack_forwarder


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_budget_and_alarm_messages_reach_slack_through_the_secret(webhook: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_NAME", "frugal/test/slack")
    monkeypatch.setattr(slack_forwarder, "_webhook_url", None)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="frugal/test/slack", SecretString=webhook)
        event = {
            "Records": [
                {
                    "Sns": {
                        "Subject": "AWS Budgets: frugal-llm-dev-monthly has exceeded your alert threshold",
                        "Message": "You requested that we alert you when the ACTUAL Cost ... 80%",
                    }
                },
                {
                    "Sns": {
                        "Subject": "ALARM",
                        "Message": json.dumps(
                            {
                                "AlarmName": "budget-estimated-charges",
                                "NewStateValue": "ALARM",
                                "NewStateReason": "Threshold Crossed",
                            }
                        ),
                    }
                },
            ]
        }
        result = slack_forwarder.handler(event, secrets_client=secrets)
    assert result == {"sent": 2}, "one Slack post per SNS record"
    texts = [m["text"] for m in _Hook.received]
    assert "frugal-llm-dev-monthly" in texts[0], f"the budget alert's subject is forwarded: {texts[0]}"
    assert texts[1].endswith("budget-estimated-charges is ALARM: Threshold Crossed"), f"alarm summarised: {texts[1]}"
