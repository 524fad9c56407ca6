"""The OpenAI-compatible router in front of llama-server; see the runtime issue."""
