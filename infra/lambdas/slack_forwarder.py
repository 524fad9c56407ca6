"""Lambda handler: forward SNS cost alerts (budgets, anomaly detection, billing alarm) to Slack.

Runs in AWS Lambda's Python runtime, which ships boto3; the webhook URL is read from Secrets
Manager at run time (cached per container) so it never sits in stack config or state.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

_webhook_url: str | None = None


def _webhook(secrets_client: Any = None) -> str:
    global _webhook_url  # a per-container cache is the point: one secret read per cold start
    if _webhook_url is None:
        if secrets_client is None:
            import boto3

            secrets_client = boto3.client("secretsmanager")
        secret = secrets_client.get_secret_value(SecretId=os.environ["SLACK_WEBHOOK_SECRET_NAME"])
        _webhook_url = secret["SecretString"].strip()
    return _webhook_url


def format_message(record: dict[str, Any]) -> str:
    """One Slack line per SNS record: its subject and message, or the alarm's state change."""
    sns = record.get("Sns", {})
    subject = sns.get("Subject") or "AWS cost alert"
    body = sns.get("Message", "")
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict) and "AlarmName" in parsed:
        body = f"{parsed['AlarmName']} is {parsed.get('NewStateValue')}: {parsed.get('NewStateReason', '')}"
    elif isinstance(parsed, dict) and "anomalyId" in parsed:
        impact = parsed.get("impact", {}).get("totalImpact")
        body = f"cost anomaly {parsed['anomalyId']}: total impact ${impact}"
    return f"*{subject}*\n{body}"


def handler(event: dict[str, Any], context: Any = None, *, secrets_client: Any = None) -> dict[str, int]:
    url = _webhook(secrets_client)
    sent = 0
    for record in event.get("Records", []):
        payload = json.dumps({"text": format_message(record)}).encode()
        request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
        sent += 1
    return {"sent": sent}
