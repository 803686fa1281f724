"""Signing staff in to a real server, for the staff board and the global feed."""

import re
from typing import Any

import httpx

from tests.e2e.servers import Server

PASSWORD = "staff-password"


def make_staff(alias: str, username: str = "staff", **flags: Any) -> Any:
    """Create a superuser (or, with ``is_superuser=False`` and so on, a lesser one)."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.db_manager(alias)
    fields = {"is_staff": True, "is_superuser": True, **flags}
    return users.create_user(username, password=PASSWORD, **fields)


def session_cookie(server: Server, username: str = "staff") -> str:
    """Sign in through the admin's login form and return the session cookie."""
    with httpx.Client(base_url=server.base_url, timeout=10) as browser:
        login = browser.get("/admin/login/")
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        assert found, "no CSRF token on the login page"
        browser.post(
            "/admin/login/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": found.group(1),
                "next": "/admin/",
            },
        )
        session = browser.cookies.get("sessionid")
    assert session, f"{username} could not sign in"
    return f"sessionid={session}"
