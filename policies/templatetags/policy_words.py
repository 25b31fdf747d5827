"""Registry values in words for templates: `unknown` reads "not answered (not sure)"."""

from django import template

from policies.registry import value_label

register = template.Library()


@register.filter
def fact_value(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return "(empty)"
    return value_label(value)
