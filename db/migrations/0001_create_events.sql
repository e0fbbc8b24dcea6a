-- Events: what tickets are sold for, and the single row every purchase of an
-- event locks, so its counters are the source of truth for availability.

-- migrate:up

-- Shared by every table with an updated_at column, so no code path can forget
-- to maintain it.
CREATE FUNCTION tix_set_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE events (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name              varchar(255) NOT NULL
        CONSTRAINT events_name_not_blank CHECK (btrim(name) <> ''),
    date              timestamptz NOT NULL,
    total_tickets     int NOT NULL,
    available_tickets int NOT NULL,
    -- Bumped by the code on every change; clients send it back in If-Match.
    version           int NOT NULL DEFAULT 1,
    -- NULL means no per-customer limit (enforced on purchases, see 0002).
    max_per_customer  int NULL
        CONSTRAINT events_max_per_customer_positive CHECK (max_per_customer > 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: a cancelled event sells nothing more; rows stay for audit.
    cancelled_at      timestamptz NULL,
    deleted_at        timestamptz NULL,
    -- 'simple' rather than a language config: event names are proper nouns
    -- in any language, and stemming them loses more than it finds.
    search            tsvector GENERATED ALWAYS AS (to_tsvector('simple', name)) STORED,

    -- The invariant 0 <= available <= total, held by the database itself so
    -- no purchase path can oversell even if its own checks are wrong.
    CONSTRAINT events_available_nonnegative CHECK (available_tickets >= 0),
    CONSTRAINT events_total_nonnegative CHECK (total_tickets >= 0),
    CONSTRAINT events_available_within_total CHECK (available_tickets <= total_tickets),
    -- Keeps ticket-row generation and int arithmetic on sums far from overflow.
    CONSTRAINT events_total_bounded CHECK (total_tickets <= 10000000)
);

-- Listing by date range (required by the data model).
CREATE INDEX events_date_idx ON events (date);
-- Keyset pagination: ORDER BY date, id with a (date, id) > ($1, $2) cursor.
CREATE INDEX events_date_id_idx ON events (date, id);
-- Full-text search for GET /events?q=.
CREATE INDEX events_search_idx ON events USING gin (search);

CREATE TRIGGER events_set_updated_at
    BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION tix_set_updated_at();

-- migrate:down

DROP TRIGGER events_set_updated_at ON events;
-- Dropping the table drops its indexes and constraints with it.
DROP TABLE events;
DROP FUNCTION tix_set_updated_at();
