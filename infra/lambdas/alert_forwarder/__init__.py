"""The alert forwarder Lambda: budget, billing-alarm and cost-anomaly alerts from an SQS queue to Slack.

This package is shipped to AWS Lambda as it is (`alert_forwarder/` at the root of the zip, handler
`alert_forwarder.handler.handler`). It imports only the standard library and boto3 (which the
Lambda Python runtime provides), and its modules import each other relatively, so the same files
run here under `infra.lambdas.alert_forwarder` and in Lambda as `alert_forwarder`.

- `messages/`: pure formatting, one module per alert type, plus the Slack payload;
- `delivery.py`: one SQS batch: dedup, rate, post, back-off, partial batch failures;
- `retry.py`: the retry schedule the queue's redrive policy is sized from;
- `webhook.py`, `dedup.py`, `guard.py`: the three side effects (Slack, DynamoDB, Auto Scaling);
- `context.py`: the stack's figures the program passes in;
- `handler.py`: the Lambda entry point, wiring boto3 clients to the above.
"""
