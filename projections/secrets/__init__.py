"""Read models of the secrets context."""
