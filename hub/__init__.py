"""The hub: a GraphQL data hub with event sourcing for a city's social-work workforce registry."""
