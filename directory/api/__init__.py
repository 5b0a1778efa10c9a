"""REST API v1: API-key authentication, one error shape, and the directory's endpoints."""
