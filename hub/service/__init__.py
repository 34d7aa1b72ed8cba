"""The running process: settings, the database, the hub's runtime, signals, tokens, the web app."""
