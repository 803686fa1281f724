"""A shop's own rules for who may follow an order, used by the tests."""

from typing import Any


def couriers_may_follow(user: Any, order: Any) -> bool:
    """A plain rule that reads the database, as shops' rules do."""
    return bool(user.groups.filter(name="couriers").exists())


async def nobody_else(user: Any, order: Any) -> bool:
    """An async rule."""
    return False
