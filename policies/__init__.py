"""Pulumi CrossGuard policy pack (cost and security guardrails); see the policy-pack issue."""
