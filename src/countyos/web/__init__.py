"""The web layer: the REST API under ``/api/v1`` (FastAPI, OpenAPI at ``/docs``) and pages.

Owns HTTP only: parsing requests, authenticating the bearer token, calling catalog/auth/audit
service functions and shaping their answers. No business rule lives here; every error leaves as
``{"error": {"code", "message", "details"}}``.
"""
