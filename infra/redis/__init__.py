"""Redis adapters: rate limits and counters shared by every API process."""
