"""The sandboxes context: containers on repository data whose changes commit atomically."""
