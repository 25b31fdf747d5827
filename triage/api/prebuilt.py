"""Serializer fields built once per class instead of once per instance.

DRF gives every serializer instance its own fields: ``Serializer.get_fields`` deep-copies the
declared ones (each ``Field.__deepcopy__`` deep-copies its arguments, choices included, and
re-runs ``__init__``), and a ``ModelSerializer`` also reads the model to build the rest. On the
filing request that was about a fifth of the web process's CPU, for the same fields every time.

``PrebuiltFieldsMixin`` keeps the fields a class's ``get_fields`` returned the first time (never
bound: DRF binds the copies) and gives each instance fresh field objects made from the same
arguments, as ``Field.__deepcopy__`` does, without deep-copying the arguments that no field
changes (choices, messages, defaults, validators): a plain field is a shallow copy of its
unbound prototype, a nested serializer (or a list of them) is made again from its arguments,
with its child deep-copied: it is bound to its parent. Only for serializers whose fields do not
depend on the instance, the data or the context.
"""

import copy
import threading

from rest_framework import serializers


def _fresh(field: serializers.Field) -> serializers.Field:
    if isinstance(field, serializers.BaseSerializer):
        # A nested serializer (or a list of them) has fields of its own, bound to it.
        kwargs = {
            key: copy.deepcopy(value) if isinstance(value, serializers.Field) else value
            for key, value in field._kwargs.items()
        }
        return field.__class__(*field._args, **kwargs)
    # A plain field: a copy of the unbound prototype's attributes, without running its
    # ``__init__`` again (a ChoiceField rebuilt its choice tables there each time). Binding
    # sets attributes on the copy only; the values shared with the prototype (choices,
    # messages, validators) are never changed in place.
    fresh = object.__new__(field.__class__)
    fresh.__dict__.update(field.__dict__)
    return fresh


class PrebuiltFieldsMixin:
    _prebuilt_lock = threading.Lock()

    def get_fields(self):
        cls = type(self)
        prototypes = cls.__dict__.get("_prebuilt_fields")
        if prototypes is None:
            with cls._prebuilt_lock:
                prototypes = cls.__dict__.get("_prebuilt_fields")
                if prototypes is None:
                    prototypes = super().get_fields()
                    cls._prebuilt_fields = prototypes
        return {name: _fresh(field) for name, field in prototypes.items()}
