-- Audit log: who changed which event or purchase, when, from what to what.
-- Written by a trigger so that no code path (nor a DBA in psql) can skip it.

-- migrate:up

CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name text NOT NULL,
    row_id     uuid NOT NULL,
    action     text NOT NULL
        CONSTRAINT audit_log_action_valid CHECK (action IN ('insert', 'update', 'delete')),
    actor      text NOT NULL,
    old_values jsonb NULL,
    new_values jsonb NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- The history of one row, in order.
CREATE INDEX audit_log_table_row_changed_idx ON audit_log (table_name, row_id, changed_at);

-- Generic over any table whose primary key is a uuid column named id.
-- The actor is, in order: the tix.actor setting the code sets per transaction
-- (SET LOCAL tix.actor = ...), else application_name:role, else the role.
CREATE FUNCTION tix_audit() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    audited_row_id uuid;
    old_row jsonb;
    new_row jsonb;
BEGIN
    -- The search vector is derived from name: logging it is only noise.
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_row := to_jsonb(OLD) - 'search';
        audited_row_id := OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_row := to_jsonb(NEW) - 'search';
        audited_row_id := NEW.id;
    END IF;

    -- Skip an UPDATE that changed nothing. updated_at is left out of the
    -- comparison because the BEFORE trigger bumps it on every UPDATE, so
    -- comparing whole rows would never skip anything.
    IF TG_OP = 'UPDATE'
       AND (old_row - 'updated_at') IS NOT DISTINCT FROM (new_row - 'updated_at') THEN
        RETURN NULL;
    END IF;

    INSERT INTO audit_log (table_name, row_id, action, actor, old_values, new_values)
    VALUES (TG_TABLE_NAME,
            audited_row_id,
            lower(TG_OP),
            coalesce(nullif(current_setting('tix.actor', true), ''),
                     nullif(current_setting('application_name', true), '') || ':' || session_user,
                     session_user),
            old_row,
            new_row);
    -- The return value of an AFTER trigger is ignored.
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_audit
    AFTER INSERT OR UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION tix_audit();

CREATE TRIGGER purchases_audit
    AFTER INSERT OR UPDATE OR DELETE ON purchases
    FOR EACH ROW EXECUTE FUNCTION tix_audit();

-- migrate:down

DROP TRIGGER purchases_audit ON purchases;
DROP TRIGGER events_audit ON events;
DROP FUNCTION tix_audit();
-- Dropping the table drops its index, constraint and identity sequence with it.
DROP TABLE audit_log;
