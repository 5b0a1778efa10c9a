"""The API reads JSON and nothing else (but for a photo's image body,
`directory.api.photos.PhotoParser`, on that one endpoint).

Only JSON is parsed, so a form-encoded or multipart body is the 415 the documentation
promises rather than being quietly accepted. Python's decoder recurses once per nesting
level, and a body of 100,000 `[` exhausts the stack: that is bad input, answered as a
400 in the API's error shape, not a crash."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc
