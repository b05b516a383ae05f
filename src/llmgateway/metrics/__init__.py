"""Timing, token counting and pricing of calls."""
