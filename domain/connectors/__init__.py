"""The connectors context: external storage an organization imports data from."""
