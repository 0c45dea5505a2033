"""Durable processes only: the case workflow and the order ledger. Deterministic code."""
