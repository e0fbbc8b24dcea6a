-- Tickets: one row per seat sold or held, owned by exactly one purchase.

-- migrate:up

CREATE TABLE tickets (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id     uuid NOT NULL
        CONSTRAINT tickets_event_id_fkey REFERENCES events (id) ON DELETE CASCADE,
    purchase_id  uuid NOT NULL
        CONSTRAINT tickets_purchase_id_fkey REFERENCES purchases (id) ON DELETE CASCADE,
    purchased_at timestamptz NOT NULL DEFAULT now(),
    -- Set when the purchase is refunded or its hold expires. Voiding instead
    -- of deleting keeps ticket ids stable for anyone holding one; a ticket is
    -- valid while voided_at IS NULL.
    voided_at    timestamptz NULL
);

CREATE INDEX tickets_event_id_idx ON tickets (event_id);
CREATE INDEX tickets_purchase_id_idx ON tickets (purchase_id);
CREATE INDEX tickets_purchased_at_idx ON tickets (purchased_at);

-- migrate:down

-- Dropping the table drops its indexes and constraints with it.
DROP TABLE tickets;
