"""What is not the service: the seed, the demo, the community list import, the event reference."""
