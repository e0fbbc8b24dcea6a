-- Purchases remember the hold they were asked for, and expired holds of one
-- event can be found without reading all of its purchases.

-- migrate:up

-- An idempotent replay must repeat the request exactly (DESIGN §1). Status
-- and expires_at change once a hold is confirmed, so they cannot tell a
-- confirmed hold from a direct sale: the request's own hold is kept here.
ALTER TABLE purchases
    ADD COLUMN hold_seconds int NOT NULL DEFAULT 0
        CONSTRAINT purchases_hold_seconds_range CHECK (hold_seconds BETWEEN 0 AND 86400);

-- A buyer short of tickets releases that event's expired holds under the
-- event lock it already holds: this keeps the look-up to the live holds of
-- one event instead of every purchase it ever had.
CREATE INDEX purchases_event_held_expires_idx ON purchases (event_id, expires_at)
    WHERE status = 'held';

-- migrate:down

DROP INDEX purchases_event_held_expires_idx;
ALTER TABLE purchases DROP COLUMN hold_seconds;
