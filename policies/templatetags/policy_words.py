"""Registry values in words for templates: `unknown` reads "not answered (not sure)"; the
routes that raise an alert."""

from django import template

from policies.registry import LAW_ENFORCEMENT_ROUTES, ROUTES, value_label

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


@register.simple_tag
def alert_routes() -> str:
    """The routes whose new items alert a responder on call (life safety: police involved),
    space-separated, for a page's script to read from a data attribute."""
    return " ".join(route for route in ROUTES if route in LAW_ENFORCEMENT_ROUTES)
