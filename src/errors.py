"""The one error type the CLI shows as a plain message instead of a traceback."""


class UserInputError(Exception):
    """A mistake the user can fix (a bad CSV, a missing folder, a wrong checkpoint); the message says how."""
