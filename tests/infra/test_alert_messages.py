"""The forwarder's pure parts: formatting from the real payload samples, the retry schedule, the pacer."""

from __future__ import annotations

import json

from infra.lambdas.alert_forwarder.context import parse_context
from infra.lambdas.alert_forwarder.delivery import Pacer
from infra.lambdas.alert_forwarder.messages import parse_notification
from infra.lambdas.alert_forwarder.messages.slack import render
from infra.lambdas.alert_forwarder.retry import MAX_RECEIVES, RetryPolicy
from tests.infra.alert_harness import context_json, sample


def test_a_budget_notification_is_read_from_its_labelled_lines():
    env = sample("budget-forecasted.json")
    alert = parse_notification(env["Subject"], env["Message"])
    facts = dict(alert.facts)
    assert alert.kind == "budget" and alert.forecasted_breach, "a FORECASTED budget alert, the guard's trigger"
    assert facts == {
        "Budget": "frugal-llm-dev-monthly",
        "Alert type": "FORECASTED",
        "Forecasted spend": "$512.40",
        "Threshold": "$400.00",
        "Monthly limit": "$400.00",
    }, facts
    actual = sample("budget-actual.json")
    assert not parse_notification(actual["Subject"], actual["Message"]).forecasted_breach, "ACTUAL never guards"


def test_an_alarm_back_to_ok_says_so_and_other_alarms_keep_their_description():
    doc = json.loads(sample("billing-alarm.json")["Message"])
    ok = parse_notification("OK", json.dumps({**doc, "NewStateValue": "OK", "OldStateValue": "ALARM"}))
    assert ok.title.startswith("Billing alarm OK") and "now OK" in ok.summary, ok
    dlq = {
        **doc,
        "AlarmName": "budget-delivery-dead-letters",
        "AlarmDescription": "Alerts could not be delivered",
        "Trigger": {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible"},
    }
    alert = parse_notification("ALARM", json.dumps(dlq))
    assert alert.kind == "alarm" and alert.summary == "Alerts could not be delivered", alert
    assert ("Metric", "AWS/SQS ApproximateNumberOfMessagesVisible") in alert.facts, alert.facts


def test_an_unrecognised_notification_is_passed_on_as_text_not_dropped():
    alert = parse_notification("Something else", "a message nobody parses")
    assert alert.kind == "unrecognised" and alert.details == ("a message nobody parses",), alert


def test_missing_cost_figures_are_unknown_never_zero():
    ctx = parse_context(
        json.dumps({"project": "frugal-llm", "stack": "dev", "environment": "dev", "region": "us-east-1"})
    )
    env = sample("anomaly.json")
    payload = render(parse_notification(env["Subject"], env["Message"]), ctx)
    assert "(cost preview): unknown" in payload["text"] and "$0.00" not in payload["text"], payload["text"]


def test_payloads_stay_within_slacks_block_limits():
    ctx = parse_context(context_json())
    long_text = "x" * 10_000
    payload = render(parse_notification("S" * 400, long_text), ctx, guard_note="g" * 5000)
    header = payload["blocks"][0]["text"]["text"]
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b]
    assert len(header) <= 150, "Slack's header limit"
    assert all(len(s) <= 3000 for s in sections), "Slack's section text limit"


def test_retries_double_up_to_an_hour_bridge_about_three_hours_and_honour_retry_after():
    policy = RetryPolicy()
    assert [policy.delay(n) for n in (1, 2, 3, 8, 9)] == [30, 60, 120, 3600, 3600], "doubling, capped at an hour"
    assert policy.after(3, retry_after=7) == 7, "Slack's Retry-After wins over the back-off"
    assert policy.after(3, retry_after=10**9) == 43_200, "within SQS's 12-hour visibility limit"
    hours = policy.total_seconds(MAX_RECEIVES) / 3600
    assert 2.5 < hours < 4, f"a Slack outage of about three hours is bridged before dead-lettering ({hours:.2f} h)"


def test_the_pacer_keeps_posts_a_second_apart():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(interval=1.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait()
    now[0] += 0.25
    pacer.wait()
    now[0] += 3
    pacer.wait()
    assert slept == [0.75], f"only the second post waited, for the rest of its second: {slept}"
