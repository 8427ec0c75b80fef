"""Reference components as separate processes over the real adapters: the ingestion gate as an HTTP
service (``ig_service``) and its client (``ig_client``)."""

from __future__ import annotations
