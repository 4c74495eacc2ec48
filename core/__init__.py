"""Shared kernel: settings, errors, clock and input validation used by every layer."""
