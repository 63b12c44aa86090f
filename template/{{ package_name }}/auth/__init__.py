"""Authentication (who is calling) and authorization (what they may do)."""
