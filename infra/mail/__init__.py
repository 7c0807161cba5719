"""Mail delivery: `.eml` files (embedded) or SMTP, fed by the outbox."""
