"""Errors that services raise for people to read. Each has a stable `code`, a message,
and, for validation, the messages per field. Views turn them into form errors or the
API's one error shape."""


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, code=None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code

    def fields_text(self) -> str:
        """One line naming each refused field and why ("name: At most 256 characters."),
        or the message when no field is named."""
        if not self.fields:
            return self.message
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in sorted(self.fields.items()))


class InvalidInput(ServiceError):
    code = "invalid"
    status = 400

    @classmethod
    def for_field(cls, field: str, *messages: str) -> "InvalidInput":
        return cls(messages[0], fields={field: list(messages)})


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class NotAllowed(ServiceError):
    code = "not_allowed"
    status = 403
