-- Purchases: one row per buyer request, keyed by the client's idempotency key,
-- and the database-enforced per-customer limit.

-- migrate:up

CREATE TABLE purchases (
    -- The client's purchase_id: a replay with the same id hits this key and
    -- sells nothing new. The default serves callers that send no id.
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id   uuid NOT NULL
        CONSTRAINT purchases_event_id_fkey REFERENCES events (id) ON DELETE CASCADE,
    -- NULL: anonymous buyer, outside any per-customer limit.
    customer   text NULL
        CONSTRAINT purchases_customer_length CHECK (char_length(customer) <= 255),
    quantity   int NOT NULL
        CONSTRAINT purchases_quantity_positive CHECK (quantity > 0),
    status     text NOT NULL
        CONSTRAINT purchases_status_valid
        CHECK (status IN ('held', 'confirmed', 'refunded', 'expired')),
    expires_at timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),

    -- A hold without a deadline would never be swept and its tickets would
    -- be lost to sale for good.
    CONSTRAINT purchases_held_has_expiry
        CHECK (status <> 'held' OR expires_at IS NOT NULL)
);

CREATE INDEX purchases_event_id_idx ON purchases (event_id);
-- The hold sweeper looks only at live holds; expired/confirmed rows, the vast
-- majority, stay out of this index.
CREATE INDEX purchases_held_expires_idx ON purchases (expires_at)
    WHERE status = 'held';
-- Serves the per-customer sum below; its predicate matches that query's.
CREATE INDEX purchases_event_customer_idx ON purchases (event_id, customer)
    WHERE customer IS NOT NULL AND status IN ('held', 'confirmed');

CREATE TRIGGER purchases_set_updated_at
    BEFORE UPDATE ON purchases
    FOR EACH ROW EXECUTE FUNCTION tix_set_updated_at();

-- Refuses a purchase that would take a customer over the event's
-- max_per_customer, counting the customer's held and confirmed purchases.
--
-- Why this is race-free without locking purchases: every purchase path first
-- UPDATEs (row-locks) the event row to take its tickets, and only then INSERTs
-- the purchase, in the same transaction. A concurrent buyer of the same event
-- therefore waits on that row lock until the earlier transaction commits. In
-- READ COMMITTED a VOLATILE PL/pgSQL function takes a fresh snapshot for each
-- query it runs, so the sum below, run after the wait, sees the committed
-- purchases of whoever held the lock before. This holds even when the UPDATE
-- and the INSERT are one statement (WITH taken AS (UPDATE ...) INSERT ...),
-- whose own snapshot predates the wait: a STABLE function would reuse that
-- stale snapshot and let the customer over the limit. (Under REPEATABLE READ
-- or SERIALIZABLE the waiting UPDATE fails with 40001 instead, to be retried.)
-- VOLATILE also makes rows inserted earlier by the same statement visible, so
-- a multi-row INSERT of a batch is checked row by row.
--
-- NEW.id is excluded so that an idempotent replay (INSERT ... ON CONFLICT
-- (id) DO NOTHING of a purchase that already exists) is not counted twice.
CREATE FUNCTION tix_enforce_customer_limit() RETURNS trigger
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    customer_limit int;
    already_bought bigint;
BEGIN
    IF NEW.customer IS NULL OR NEW.status NOT IN ('held', 'confirmed') THEN
        RETURN NEW;
    END IF;

    SELECT e.max_per_customer INTO customer_limit
      FROM events e
     WHERE e.id = NEW.event_id;
    IF customer_limit IS NULL THEN
        -- No limit, or no such event (the foreign key reports that).
        RETURN NEW;
    END IF;

    SELECT coalesce(sum(p.quantity), 0) INTO already_bought
      FROM purchases p
     WHERE p.event_id = NEW.event_id
       AND p.customer = NEW.customer
       AND p.status IN ('held', 'confirmed')
       AND p.id <> NEW.id;

    IF already_bought + NEW.quantity > customer_limit THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            CONSTRAINT = 'purchases_customer_limit',
            SCHEMA = TG_TABLE_SCHEMA,
            TABLE = TG_TABLE_NAME,
            MESSAGE = format('purchase would exceed the limit of %s tickets per customer',
                             customer_limit),
            DETAIL = format('Customer %s already has %s tickets of event %s and asks for %s more.',
                            NEW.customer, already_bought, NEW.event_id, NEW.quantity);
    END IF;

    RETURN NEW;
END;
$$;

CREATE TRIGGER purchases_enforce_customer_limit
    BEFORE INSERT ON purchases
    FOR EACH ROW
    WHEN (NEW.customer IS NOT NULL AND NEW.status IN ('held', 'confirmed'))
    EXECUTE FUNCTION tix_enforce_customer_limit();

-- migrate:down

DROP TRIGGER purchases_enforce_customer_limit ON purchases;
DROP FUNCTION tix_enforce_customer_limit();
DROP TRIGGER purchases_set_updated_at ON purchases;
-- Dropping the table drops its indexes and constraints with it.
DROP TABLE purchases;
