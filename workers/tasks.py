"""Celery tasks. Each takes ids, re-fetches, and calls a service."""
