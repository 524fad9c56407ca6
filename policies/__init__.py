"""Pulumi CrossGuard policy pack (cost and security guardrails); see docs/policy-pack.md."""
