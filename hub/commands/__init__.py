"""The registry's commands, one module per record type.

Each command is a function `(registry, request) -> Outcome` whose name, in camelCase, is the
command's name in the rule table and in the API.
"""
