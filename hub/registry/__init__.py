"""The write side: the registry application, its batch mode, its recorder, personal-data keys."""
