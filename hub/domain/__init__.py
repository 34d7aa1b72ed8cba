"""What the registry records and the rules it keeps; nothing here knows about the web or SQL."""
