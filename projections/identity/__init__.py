"""Identity read models."""
