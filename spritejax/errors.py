"""Errors a user can fix (a missing file, a bad config value): reported as one line by the CLI."""


class UserError(Exception):
    pass
