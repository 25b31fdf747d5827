from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Sign-in"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from .middleware import idle_clock_start

        # Sign-in writes the session anyway: start the idle clock there, so the first page
        # after it does not write the session again (GETs write nothing).
        user_logged_in.connect(idle_clock_start, dispatch_uid="accounts.idle_clock_start")
