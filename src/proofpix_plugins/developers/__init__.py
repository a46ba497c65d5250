"""Marketplace developers: namespaces, API keys, signing keys and the ``X-API-Key`` guard."""
