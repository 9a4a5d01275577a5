-- Disputes: reason codes, the history of every transition, escalation runs and their index.
--
-- A dispute is `open` at tier 1 with a deadline of its opening date plus tier 1's SLA in
-- business days; `disputes.escalate` at time T moves each unresolved dispute whose deadline is
-- before T's date one tier up (`escalated`, a new deadline from T's date) or, at the last tier,
-- marks it `breached` once; `disputes resolve` ends it with an outcome. Every one of these
-- transitions is a row of encours.dispute_events (when, who, what), never rewritten.

-- Reason codes. Free-text reasons imported before this migration keep their words in `note`
-- and become `other`, so nothing the finance team wrote is lost.
ALTER TABLE encours.disputes ADD COLUMN note TEXT;
-- The credit note a `credit_note` resolution created (an invoices row of kind credit_note).
ALTER TABLE encours.disputes ADD COLUMN credit_note_id TEXT COLLATE "C";
UPDATE encours.disputes
SET note = reason, reason = 'other'
WHERE reason NOT IN ('pricing', 'quality', 'quantity', 'not_received', 'duplicate_billing', 'other');
ALTER TABLE encours.disputes ADD CONSTRAINT disputes_reason_code
    CHECK (reason IN ('pricing', 'quality', 'quantity', 'not_received', 'duplicate_billing', 'other'));
ALTER TABLE encours.disputes ADD CONSTRAINT disputes_note_length CHECK (length(note) <= 2000);
ALTER TABLE encours.disputes ADD CONSTRAINT disputes_credit_note_fk
    FOREIGN KEY (tenant_id, credit_note_id) REFERENCES encours.invoices (tenant_id, invoice_id);

-- The escalation's hot query: a tenant's unresolved disputes whose deadline is before a date.
CREATE INDEX disputes_deadline_idx ON encours.disputes (tenant_id, deadline) WHERE status <> 'resolved';

-- One row per disputes.escalate run that changed something, at its instant T (running again at
-- the same T finds nothing to do and records nothing). Its notifications have source_id = escalation_id.
CREATE TABLE encours.dispute_escalations (
    tenant_id      BIGINT NOT NULL,
    escalation_id  BIGINT GENERATED ALWAYS AS IDENTITY,
    job_id         BIGINT,
    at             TIMESTAMPTZ NOT NULL,
    -- T's date in the tenant's time zone: deadlines before it are overdue.
    on_date        DATE NOT NULL,
    escalated      INTEGER NOT NULL CHECK (escalated >= 0),
    breached       INTEGER NOT NULL CHECK (breached >= 0),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, escalation_id)
);
CREATE INDEX dispute_escalations_job_idx ON encours.dispute_escalations (tenant_id, job_id);

-- The life of each dispute: opened, escalated (to a tier), breached, resolved.
CREATE TABLE encours.dispute_events (
    tenant_id      BIGINT NOT NULL,
    event_id       BIGINT GENERATED ALWAYS AS IDENTITY,
    dispute_id     TEXT COLLATE "C" NOT NULL,
    at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor          TEXT NOT NULL DEFAULT coalesce(nullif(encours.current_actor(), ''), session_user),
    kind           TEXT NOT NULL CHECK (kind IN ('opened', 'escalated', 'breached', 'resolved')),
    -- The tier and the deadline after the event.
    tier           INTEGER NOT NULL CHECK (tier >= 1),
    tier_name      TEXT,
    deadline       DATE,
    -- The escalation run that made the event (escalated, breached).
    escalation_id  BIGINT,
    outcome        TEXT CHECK (outcome IN ('credit_note', 'upheld', 'withdrawn')),
    amount_cents   BIGINT CHECK (amount_cents > 0),
    PRIMARY KEY (tenant_id, event_id),
    FOREIGN KEY (tenant_id, dispute_id) REFERENCES encours.disputes (tenant_id, dispute_id),
    FOREIGN KEY (tenant_id, escalation_id) REFERENCES encours.dispute_escalations (tenant_id, escalation_id),
    CHECK ((kind = 'resolved') = (outcome IS NOT NULL))
);
CREATE INDEX dispute_events_dispute_idx ON encours.dispute_events (tenant_id, dispute_id, event_id);
CREATE INDEX dispute_events_escalation_idx ON encours.dispute_events (tenant_id, escalation_id) WHERE escalation_id IS NOT NULL;

-- Disputes recorded before this migration get their opening event (who opened them is not known).
INSERT INTO encours.dispute_events (tenant_id, dispute_id, at, actor, kind, tier, deadline)
SELECT tenant_id, dispute_id, created_at, 'before encours migration 9', 'opened', 1, CASE WHEN tier = 1 THEN deadline END
FROM encours.disputes;

DO $$
DECLARE
    v_table TEXT;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['dispute_escalations', 'dispute_events'] LOOP
        EXECUTE format('ALTER TABLE encours.%I ENABLE ROW LEVEL SECURITY', v_table);
        EXECUTE format('ALTER TABLE encours.%I FORCE ROW LEVEL SECURITY', v_table);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON encours.%I USING (tenant_id = (SELECT encours.current_tenant_id())) '
            'WITH CHECK (tenant_id = (SELECT encours.current_tenant_id()))', v_table);
        -- History is added, never rewritten.
        EXECUTE format('GRANT SELECT, INSERT ON encours.%I TO encours_tenant', v_table);
    END LOOP;
END;
$$;

-- A dispute's lifecycle (tier, deadline, status, breach, resolution) has its own history in
-- dispute_events; the row audit keeps recording changes to its imported facts and deletions,
-- without a second, slower copy of every escalation (100,000 disputes escalated at once).
DROP TRIGGER disputes_audit ON encours.disputes;
CREATE TRIGGER disputes_audit AFTER UPDATE ON encours.disputes
    FOR EACH ROW
    WHEN ((OLD.invoice_id, OLD.reason, OLD.note, OLD.opened_on, OLD.amount_cents)
          IS DISTINCT FROM (NEW.invoice_id, NEW.reason, NEW.note, NEW.opened_on, NEW.amount_cents))
    EXECUTE FUNCTION encours.audit_row_change('dispute', 'dispute_id');
CREATE TRIGGER disputes_audit_delete AFTER DELETE ON encours.disputes
    FOR EACH ROW EXECUTE FUNCTION encours.audit_row_change('dispute', 'dispute_id');
