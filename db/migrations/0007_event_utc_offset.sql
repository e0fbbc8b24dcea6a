-- Events remember the offset from UTC their date was given with: timestamptz
-- keeps only the instant, and "20:00 in Paris" read back as "19:00Z" is not
-- what the people going there were told.

-- migrate:up

-- Minutes east of UTC, as RFC 3339 writes them (+01:00 is 60): at most
-- 23:59 either way. Existing events were all shown in UTC: 0 keeps that.
ALTER TABLE events
    ADD COLUMN date_offset_minutes int NOT NULL DEFAULT 0
        CONSTRAINT events_date_offset_range CHECK (date_offset_minutes BETWEEN -1439 AND 1439);

-- Moving an event to another offset is a change people make: audited like
-- the date itself (the trigger of 0006, with the new column; the down puts
-- 0006's back as it was written).
DROP TRIGGER events_audit_update ON events;
CREATE TRIGGER events_audit_update AFTER UPDATE ON events FOR EACH ROW
    WHEN ((OLD.name, OLD.date, OLD.date_offset_minutes, OLD.total_tickets, OLD.max_per_customer,
           OLD.cancelled_at, OLD.deleted_at)
          IS DISTINCT FROM (NEW.name, NEW.date, NEW.date_offset_minutes, NEW.total_tickets,
                            NEW.max_per_customer, NEW.cancelled_at, NEW.deleted_at))
    EXECUTE FUNCTION tix_audit();

-- migrate:down

DROP TRIGGER events_audit_update ON events;
CREATE TRIGGER events_audit_update
    AFTER UPDATE ON events
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name
          OR OLD.date IS DISTINCT FROM NEW.date
          OR OLD.total_tickets IS DISTINCT FROM NEW.total_tickets
          OR OLD.max_per_customer IS DISTINCT FROM NEW.max_per_customer
          OR OLD.cancelled_at IS DISTINCT FROM NEW.cancelled_at
          OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION tix_audit();
ALTER TABLE events DROP COLUMN date_offset_minutes;
