"""The benchmark's own Postgres databases, and the connections servers hold.

Only databases and roles whose names this module generated (``bench_<label>_<pid>``)
are ever created or dropped. A server connects as that role, not as ``postgres``:
Postgres does not apply connection limits to superusers, and a peer that opens one
connection per stream would otherwise take every connection of the shared cluster.
The role and the database both carry the limit.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import sql

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


class BenchDatabase:
    """A Postgres database and its owner role, for one server variant."""

    def __init__(self, label: str, connection_limit: int) -> None:
        self.name = f"bench_{label}_{os.getpid()}"
        self.connection_limit = connection_limit
        self.url = f"postgres://{self.name}@127.0.0.1:5432/{self.name}"

    def create(self) -> None:
        """Create role and database, replacing ones left by a crashed run."""
        self.drop()
        name = sql.Identifier(self.name)
        limit = sql.Literal(self.connection_limit)
        with _admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT {}").format(name, limit)
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} CONNECTION LIMIT {}").format(
                    name, name, limit
                )
            )

    def drop(self) -> None:
        """Drop database and role, closing any connection a server left behind."""
        name = sql.Identifier(self.name)
        with _admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name)
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(name))

    def connections(self) -> int:
        """Count the sessions connected to this database (ours is not one)."""
        with _admin() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                (self.name,),
            ).fetchone()
        return int(str(row[0])) if row else 0


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(ADMIN_DSN, autocommit=True)
