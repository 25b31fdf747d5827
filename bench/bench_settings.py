"""Settings for the pipeline benchmark's baseline stack: the product settings, bare URLs.

    DJANGO_SETTINGS_MODULE=bench.bench_settings

Used only by bench/pipeline.py; the product's settings are untouched.
"""

from triage.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline"
