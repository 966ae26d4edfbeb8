"""The one error the scoring package raises when its model cannot serve."""


class ModelUnavailable(RuntimeError):
    """The sentiment model is missing, broken or cannot be loaded."""
