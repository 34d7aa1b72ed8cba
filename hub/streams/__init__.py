"""The partner streams: the ordered event log followed live, and the slots that bound them."""
