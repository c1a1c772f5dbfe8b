"""Edges of the system: provider HTTP adapters and Kafka plumbing."""
