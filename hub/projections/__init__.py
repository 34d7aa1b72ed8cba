"""Read models built from the event store, each owning its tables and its SQL."""
