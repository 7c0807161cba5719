"""Adapters of the imports context: writing source bytes into the blob store."""
