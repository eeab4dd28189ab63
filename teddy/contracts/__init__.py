"""Contracts shared by the toy and the cloud: defined once here, imported by both."""
