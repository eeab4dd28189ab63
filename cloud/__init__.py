"""Teddy's cloud: a consent-aware personalisation service for paired toys."""
