"""The secrets context's domain: secrets, an organization's data keys, a sandbox's environment."""
