"""Password hashing, signed tokens and session JWTs."""
