"""Running projectors: batched catch-up, one active instance, wake-ups, read-your-writes."""
