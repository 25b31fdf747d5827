from allauth.account.forms import LoginForm


class SignInForm(LoginForm):
    """allauth's login form; the page posts `username` (as Django's form did, and as
    scripts and tests written against it do), allauth calls the field `login`."""

    def __init__(self, *args, **kwargs):
        data = kwargs.get("data")
        if data is not None and "login" not in data and "username" in data:
            data = data.copy()
            data["login"] = data["username"]
            kwargs["data"] = data
        super().__init__(*args, **kwargs)
