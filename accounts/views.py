from allauth.account.views import LoginView


class SignInView(LoginView):
    """allauth's sign-in (password, then the second factor when enrolled), with one button
    per configured identity provider."""

    template_name = "account/login.html"
