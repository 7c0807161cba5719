"""Secrets adapters: the key-encryption keys and the AES-256-GCM envelope cipher."""
