"""Teddy: a privacy-first connected-toy testbed."""

__version__ = "0.1.0"
