from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A string, and only a string: 42 or true is a wrong type, not text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
