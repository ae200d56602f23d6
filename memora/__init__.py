"""Memora: spaced-repetition scheduling and fan memory for Frappe."""

__version__ = "0.1.0"
