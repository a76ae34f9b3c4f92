"""The REST + WebSocket API (tornado handlers) and its OpenAPI document."""
