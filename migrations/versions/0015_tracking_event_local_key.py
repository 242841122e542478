"""Key Correios tracking events by the local time SRO printed instead of the UTC time.

The key of an SRO event was its code and its UTC time (`RO-01@20260304T180000Z`). The UTC
time depends on the time zone of the unit's state, and SRO sends the unit's address in
some answers and not in others, so one event could get two keys and be stored and
announced twice. The key is now the code and the wall-clock time SRO printed
(`RO-01@20260304T140000`), which does not change between polls.

Stored keys are rewritten, or the next poll would store every known event again. The
printed time comes back from the stored UTC time in the zone that the parser used: the
state at the end of the stored location (`PORTO VELHO - RO`), São Paulo's zone without
one. Where an event was already stored twice under two UTC times, the older row takes
the new key and the other keeps its old one, so no row is lost. Manual events keep
their random keys. The downgrade writes the UTC form back.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The zones of taskgo.tracking.correios_events as this revision knows them.
_ZONE_BY_UF = {
    "AC": "America/Rio_Branco",
    "AM": "America/Manaus",
    "RO": "America/Porto_Velho",
    "RR": "America/Boa_Vista",
    "MT": "America/Cuiaba",
    "MS": "America/Campo_Grande",
}
_DEFAULT_ZONE = "America/Sao_Paulo"

# The state of a stored location: "CITY - UF", or the state alone when SRO sent no city.
_UF = "coalesce(substring(location from ' - ([A-Z]{2})$'), substring(location from '^[A-Z]{2}$'))"
_ZONE = (
    f"CASE {_UF} "
    + " ".join(f"WHEN '{uf}' THEN '{zone}'" for uf, zone in _ZONE_BY_UF.items())
    + f" ELSE '{_DEFAULT_ZONE}' END"
)
_OLD_KEY = "'^[^@]+@[0-9]{8}T[0-9]{6}Z$'"
_NEW_KEY = "'^[^@]+@[0-9]{8}T[0-9]{6}$'"


def _rekey(matching: str, new_key: str) -> None:
    """Give the SRO events whose key matches `matching` the key `new_key` (SQL).

    When several rows of one purchase get the same new key, only the oldest takes it.
    Only this module's constants are formatted into the statement.
    """
    statement = f"""
        WITH candidates AS (
            SELECT id, purchase_id, {new_key} AS new_key,
                   row_number() OVER (
                       PARTITION BY purchase_id, {new_key} ORDER BY created_at, id
                   ) AS rank
            FROM tracking_events
            WHERE source = 'correios' AND event_key ~ {matching}
        )
        UPDATE tracking_events AS event
        SET event_key = candidates.new_key
        FROM candidates
        WHERE event.id = candidates.id
          AND candidates.rank = 1
          AND NOT EXISTS (
              SELECT 1 FROM tracking_events AS other
              WHERE other.purchase_id = candidates.purchase_id
                AND other.event_key = candidates.new_key
          )
        """  # noqa: S608
    op.execute(statement)


def upgrade() -> None:
    printed = f"to_char(occurred_at AT TIME ZONE ({_ZONE}), 'YYYYMMDD\"T\"HH24MISS')"
    _rekey(_OLD_KEY, f"split_part(event_key, '@', 1) || '@' || {printed}")


def downgrade() -> None:
    utc = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS')"
    _rekey(_NEW_KEY, f"split_part(event_key, '@', 1) || '@' || {utc} || 'Z'")
