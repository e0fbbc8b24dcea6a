--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: tix_audit(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tix_audit() RETURNS trigger
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


--
-- Name: tix_enforce_customer_limits(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tix_enforce_customer_limits() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    offender record;
BEGIN
    SELECT n.event_id, n.customer, e.max_per_customer AS customer_limit,
           owned.tickets, n.asked
      INTO offender
      FROM (SELECT event_id, customer, sum(quantity) AS asked
              FROM inserted
             WHERE customer IS NOT NULL AND status IN ('held', 'confirmed')
             GROUP BY event_id, customer) n
      JOIN events e ON e.id = n.event_id AND e.max_per_customer IS NOT NULL
      CROSS JOIN LATERAL (
            SELECT coalesce(sum(p.quantity), 0) AS tickets
              FROM purchases p
             WHERE p.event_id = n.event_id
               AND p.customer = n.customer
               AND (p.status = 'confirmed'
                    OR (p.status = 'held' AND p.expires_at > now()))) owned
     WHERE owned.tickets > e.max_per_customer
     LIMIT 1;

    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            CONSTRAINT = 'purchases_customer_limit',
            SCHEMA = TG_TABLE_SCHEMA,
            TABLE = TG_TABLE_NAME,
            MESSAGE = format('purchase would exceed the limit of %s tickets per customer',
                             offender.customer_limit),
            DETAIL = format('Customer %s already has %s tickets of event %s and asks for %s more.',
                            offender.customer, offender.tickets - offender.asked,
                            offender.event_id, offender.asked);
    END IF;
    RETURN NULL;
END;
$$;


--
-- Name: tix_set_updated_at(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tix_set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    table_name text NOT NULL,
    row_id uuid NOT NULL,
    action text NOT NULL,
    actor text NOT NULL,
    old_values jsonb,
    new_values jsonb,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT audit_log_action_valid CHECK ((action = ANY (ARRAY['insert'::text, 'update'::text, 'delete'::text])))
);


--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name character varying(255) NOT NULL,
    date timestamp with time zone NOT NULL,
    total_tickets integer NOT NULL,
    available_tickets integer NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    max_per_customer integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    cancelled_at timestamp with time zone,
    deleted_at timestamp with time zone,
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, (name)::text)) STORED,
    date_offset_minutes integer DEFAULT 0 NOT NULL,
    CONSTRAINT events_available_nonnegative CHECK ((available_tickets >= 0)),
    CONSTRAINT events_available_within_total CHECK ((available_tickets <= total_tickets)),
    CONSTRAINT events_date_offset_range CHECK (((date_offset_minutes >= '-1439'::integer) AND (date_offset_minutes <= 1439))),
    CONSTRAINT events_max_per_customer_positive CHECK ((max_per_customer > 0)),
    CONSTRAINT events_name_not_blank CHECK ((btrim((name)::text) <> ''::text)),
    CONSTRAINT events_total_bounded CHECK ((total_tickets <= 10000000)),
    CONSTRAINT events_total_nonnegative CHECK ((total_tickets >= 0))
);


--
-- Name: purchases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.purchases (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    event_id uuid NOT NULL,
    customer text,
    quantity integer NOT NULL,
    status text NOT NULL,
    expires_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    hold_seconds integer DEFAULT 0 NOT NULL,
    CONSTRAINT purchases_customer_length CHECK ((char_length(customer) <= 255)),
    CONSTRAINT purchases_held_has_expiry CHECK (((status <> 'held'::text) OR (expires_at IS NOT NULL))),
    CONSTRAINT purchases_hold_seconds_range CHECK (((hold_seconds >= 0) AND (hold_seconds <= 86400))),
    CONSTRAINT purchases_quantity_positive CHECK ((quantity > 0)),
    CONSTRAINT purchases_status_valid CHECK ((status = ANY (ARRAY['held'::text, 'confirmed'::text, 'refunded'::text, 'expired'::text])))
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version bigint NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL,
    execution_ms integer NOT NULL
);


--
-- Name: tickets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tickets (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    event_id uuid NOT NULL,
    purchase_id uuid NOT NULL,
    purchased_at timestamp with time zone DEFAULT now() NOT NULL,
    voided_at timestamp with time zone
);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: purchases purchases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchases
    ADD CONSTRAINT purchases_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: tickets tickets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_pkey PRIMARY KEY (id);


--
-- Name: audit_log_table_row_changed_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_log_table_row_changed_idx ON public.audit_log USING btree (table_name, row_id, changed_at);


--
-- Name: events_date_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_date_id_idx ON public.events USING btree (date, id);


--
-- Name: events_date_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_date_idx ON public.events USING btree (date);


--
-- Name: events_search_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_search_idx ON public.events USING gin (search);


--
-- Name: purchases_event_customer_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX purchases_event_customer_idx ON public.purchases USING btree (event_id, customer);


--
-- Name: purchases_event_held_expires_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX purchases_event_held_expires_idx ON public.purchases USING btree (event_id, expires_at) WHERE (status = 'held'::text);


--
-- Name: purchases_held_expires_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX purchases_held_expires_idx ON public.purchases USING btree (expires_at) WHERE (status = 'held'::text);


--
-- Name: tickets_event_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tickets_event_id_idx ON public.tickets USING btree (event_id);


--
-- Name: tickets_purchase_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tickets_purchase_id_idx ON public.tickets USING btree (purchase_id);


--
-- Name: tickets_purchased_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tickets_purchased_at_idx ON public.tickets USING btree (purchased_at);


--
-- Name: events events_audit_insert_delete; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER events_audit_insert_delete AFTER INSERT OR DELETE ON public.events FOR EACH ROW EXECUTE FUNCTION public.tix_audit();


--
-- Name: events events_audit_update; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER events_audit_update AFTER UPDATE ON public.events FOR EACH ROW WHEN (((((((((old.name)::text IS DISTINCT FROM (new.name)::text) OR (old.date IS DISTINCT FROM new.date)) OR (old.date_offset_minutes IS DISTINCT FROM new.date_offset_minutes)) OR (old.total_tickets IS DISTINCT FROM new.total_tickets)) OR (old.max_per_customer IS DISTINCT FROM new.max_per_customer)) OR (old.cancelled_at IS DISTINCT FROM new.cancelled_at)) OR (old.deleted_at IS DISTINCT FROM new.deleted_at))) EXECUTE FUNCTION public.tix_audit();


--
-- Name: events events_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER events_set_updated_at BEFORE UPDATE ON public.events FOR EACH ROW EXECUTE FUNCTION public.tix_set_updated_at();


--
-- Name: purchases purchases_audit_delete; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER purchases_audit_delete AFTER DELETE ON public.purchases FOR EACH ROW EXECUTE FUNCTION public.tix_audit();


--
-- Name: purchases purchases_audit_update; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER purchases_audit_update AFTER UPDATE ON public.purchases FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION public.tix_audit();


--
-- Name: purchases purchases_enforce_customer_limits; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER purchases_enforce_customer_limits AFTER INSERT ON public.purchases REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION public.tix_enforce_customer_limits();


--
-- Name: purchases purchases_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER purchases_set_updated_at BEFORE UPDATE ON public.purchases FOR EACH ROW EXECUTE FUNCTION public.tix_set_updated_at();


--
-- Name: purchases purchases_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchases
    ADD CONSTRAINT purchases_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.events(id) ON DELETE CASCADE;


--
-- Name: tickets tickets_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.events(id) ON DELETE CASCADE;


--
-- Name: tickets tickets_purchase_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_purchase_id_fkey FOREIGN KEY (purchase_id) REFERENCES public.purchases(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


--
-- The applied migrations, so that a database made from this file is up to date.
--

INSERT INTO public.schema_migrations (version, name, checksum, execution_ms) VALUES (1, 'create_events', '8d09944acc948ef2ed74e9d1d7dbbcec3f6abb773523d59fdbd2adf20d980264', 0);
INSERT INTO public.schema_migrations (version, name, checksum, execution_ms) VALUES (2, 'create_purchases', '3779006e1274b48244f954e8e476b926a906b9f5fd9343c2091115c67c3d3eef', 0);
INSERT INTO public.schema_migrations (version, name, checksum, execution_ms) VALUES (3, 'create_tickets', '5e146b00261e8657fabc72b57ff7f18aa97d6aa3738cfcc63e4ccff48d66b92b', 0);
INSERT INTO public.schema_migrations (version, name, checksum, execution_ms) VALUES (4, 'create_audit_log', '05db6650ebd21697c5f24c926dd05b1a2059d5782c5a0b92b591502dc226fb96', 0);
INSERT INTO public.schema_migrations (version, name, checksum, execution_ms) VALUES (5, 'purchase_holds', '2ee126d46efa9eb889505fed860456a7678b2f1ffdafec36bcea5c891f39c4c9', 0);
INSERT INTO public.schema_migrations (version, name, checksum, execution_ms) VALUES (6, 'lean_sales', '43d9a935be5d89d5536eb20740031253603843b657fdd9415e8aef24838a592e', 0);
INSERT INTO public.schema_migrations (version, name, checksum, execution_ms) VALUES (7, 'event_utc_offset', '9f69c042f63d8e091dc968db49113c49a352c296d1ca0d5e934114edde0e7b10', 0);
