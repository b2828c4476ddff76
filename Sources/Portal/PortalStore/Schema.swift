/// The portal's schema, as migrations. Never edit one that has shipped: add the next version.
public enum Schema {
    public static let migrations: [Migration] = [v1, v2, v3, v4, v5]

    static let v1 = Migration(version: 1, name: "registry, uploads, jobs, verdicts, deliveries, audit", statements: [
        """
        CREATE TABLE patients (
            id bigserial PRIMARY KEY,
            patient_id text NOT NULL,
            issuer text NOT NULL,
            name text NOT NULL,
            birth_date text NOT NULL CHECK (birth_date ~ '^[0-9]{8}$'),
            sex text CHECK (sex IN ('M', 'F', 'O')),
            email text,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (patient_id, issuer)
        )
        """,
        """
        CREATE TABLE kiosks (
            id bigserial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            certificate_serial text NOT NULL,
            certificate_fingerprint text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )
        """,
        """
        CREATE TABLE batches (
            id uuid PRIMARY KEY,
            patient bigint REFERENCES patients (id),
            kiosk bigint REFERENCES kiosks (id),
            state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'committed', 'processing', 'delivered', 'held', 'failed')),
            created_at timestamptz NOT NULL DEFAULT now(),
            committed_at timestamptz,
            CHECK (num_nonnulls(patient, kiosk) = 1)
        )
        """,
        """
        CREATE TABLE uploads (
            id text PRIMARY KEY,
            batch uuid NOT NULL REFERENCES batches (id),
            length bigint CHECK (length >= 0),
            "offset" bigint NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND (length IS NULL OR "offset" <= length)),
            metadata jsonb NOT NULL DEFAULT '{}',
            expires_at timestamptz,
            state text NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving', 'complete', 'terminated', 'expired'))
        )
        """,
        "CREATE INDEX uploads_batch ON uploads (batch)",
        """
        CREATE TABLE jobs (
            id bigserial PRIMARY KEY,
            kind text NOT NULL,
            batch uuid REFERENCES batches (id),
            payload jsonb NOT NULL DEFAULT '{}',
            state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
            attempts int NOT NULL DEFAULT 0,
            max_attempts int NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
            run_after timestamptz NOT NULL DEFAULT now(),
            lease_owner text,
            lease_expires_at timestamptz,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
        )
        """,
        // Claiming reads only the claimable rows: queued in run_after order, running by lease expiry.
        "CREATE INDEX jobs_queued ON jobs (run_after, id) WHERE state = 'queued'",
        "CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running'",
        "CREATE INDEX jobs_dead ON jobs (updated_at) WHERE state = 'dead'",
        """
        CREATE TABLE instances (
            id bigserial PRIMARY KEY,
            batch uuid NOT NULL REFERENCES batches (id),
            sop_instance_uid text NOT NULL,
            sha256 bytea NOT NULL CHECK (length(sha256) = 32),
            verdict text NOT NULL,
            findings jsonb NOT NULL DEFAULT '[]',
            UNIQUE (batch, sop_instance_uid, sha256)
        )
        """,
        """
        CREATE TABLE deliveries (
            id bigserial PRIMARY KEY,
            destination text NOT NULL,
            sop_instance_uid text NOT NULL,
            sha256 bytea NOT NULL CHECK (length(sha256) = 32),
            state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
            delivered_at timestamptz,
            UNIQUE (destination, sop_instance_uid, sha256)
        )
        """,
        """
        CREATE TABLE audit (
            seq bigserial PRIMARY KEY,
            at timestamptz NOT NULL,
            event_type text NOT NULL,
            actor text NOT NULL,
            detail jsonb NOT NULL,
            prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
            hash bytea NOT NULL CHECK (length(hash) = 32)
        )
        """,
        """
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit table is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """,
        "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
        "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
    ])

    /// Kiosk batches (one per kiosk and session) with their staging key and signed manifest; uploads keep
    /// their owner and the two metadata values the commit rule matches on.
    static let v2 = Migration(version: 2, name: "kiosk sessions, staging keys, manifests, upload owners", statements: [
        """
        ALTER TABLE batches
            ADD COLUMN kiosk_session text,
            ADD COLUMN staging_key bytea CHECK (length(staging_key) = 32),
            ADD COLUMN manifest bytea,
            ADD COLUMN manifest_signature text,
            ADD COLUMN manifest_instances jsonb,
            ADD COLUMN manifest_at timestamptz,
            ADD CONSTRAINT batches_kiosk_session UNIQUE (kiosk, kiosk_session),
            ADD CONSTRAINT batches_session_is_a_kiosks CHECK (kiosk_session IS NULL OR kiosk IS NOT NULL),
            ADD CONSTRAINT batches_manifest_whole CHECK (
                (manifest IS NULL) = (manifest_signature IS NULL)
                AND (manifest IS NULL) = (manifest_instances IS NULL)
                AND (manifest IS NULL) = (manifest_at IS NULL))
        """,
        """
        ALTER TABLE uploads
            ADD COLUMN owner text NOT NULL DEFAULT '',
            ADD COLUMN sop_instance_uid text,
            ADD COLUMN sha256 text,
            ADD COLUMN created_at timestamptz NOT NULL DEFAULT now()
        """,
        // The commit rule looks an instance up by batch and SOP Instance UID; the sweep reads unfinished uploads by expiry.
        "CREATE INDEX uploads_batch_instance ON uploads (batch, sop_instance_uid)",
        "CREATE INDEX uploads_expiry ON uploads (expires_at) WHERE length IS NULL OR \"offset\" < length",
        // Revocation is looked up by serial on every kiosk handshake.
        "CREATE INDEX kiosks_serial ON kiosks (certificate_serial)",
    ])

    static let v3 = Migration(version: 3, name: "batch outcomes", statements: [
        // What a worker found: the batch's report (the session report schema) and what kept it from the PACS.
        """
        ALTER TABLE batches
            ADD COLUMN report jsonb,
            ADD COLUMN problems text[] NOT NULL DEFAULT '{}',
            ADD COLUMN processed_at timestamptz
        """,
        "CREATE INDEX batches_state ON batches (state, created_at)",
    ])

    /// The patient portal's link to the edge: invitations (only the token's SHA-256 is kept), what of a patient the
    /// edge has, batches taken from the edge (once: `edge_batch` is unique) and whether their result reached it, and
    /// the last edge security event taken into the audit chain.
    static let v4 = Migration(version: 4, name: "edge link: invitations, edge batches, edge events", statements: [
        """
        CREATE TABLE invitations (
            id bigserial PRIMARY KEY,
            patient bigint NOT NULL REFERENCES patients (id),
            token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
            sent_at timestamptz,
            pushed_at timestamptz,
            revoked_at timestamptz
        )
        """,
        // One live invitation per patient: a new one revokes the one before in the same transaction.
        "CREATE UNIQUE INDEX invitations_live ON invitations (patient) WHERE revoked_at IS NULL",
        // updated_at moves with every change of the record; the link pushes a patient whose edge copy is older.
        """
        ALTER TABLE patients
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN edge_pushed_at timestamptz,
            ADD COLUMN edge_unlock_requested_at timestamptz
        """,
        """
        ALTER TABLE batches
            ADD COLUMN edge_batch uuid UNIQUE,
            ADD COLUMN result_pushed_at timestamptz,
            ADD CONSTRAINT batches_edge_is_a_patients CHECK (edge_batch IS NULL OR patient IS NOT NULL),
            ADD CONSTRAINT batches_result_of_edge CHECK (result_pushed_at IS NULL OR edge_batch IS NOT NULL)
        """,
        "CREATE INDEX batches_result_unpushed ON batches (created_at) WHERE edge_batch IS NOT NULL AND result_pushed_at IS NULL",
        """
        CREATE TABLE edge_events (
            single boolean PRIMARY KEY DEFAULT true CHECK (single),
            last_seq bigint NOT NULL CHECK (last_seq >= 0)
        )
        """,
    ])

    /// The admin console: staff accounts (roles, password, passkeys, TOTP fallback) and their browser sessions; the
    /// review of held batches (decision, reviewer, reason, reassignment, quarantine purge); per-session analytics
    /// (what a kiosk forwarded, what a worker found); worker heartbeats; kiosks last seen and their audit trail
    /// segments checked against their signed checkpoints; the ATNA forwarding position; patients' second-factor
    /// resets pushed to the edge.
    static let v5 = Migration(version: 5, name: "admin console: staff, review, analytics, fleet, kiosk audit, ATNA", statements: [
        """
        CREATE TABLE staff (
            id bigserial PRIMARY KEY,
            username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
            display_name text NOT NULL,
            email text,
            role text NOT NULL CHECK (role IN ('administrator', 'reviewer', 'auditor')),
            password_hash text,
            totp_secret bytea,
            totp_last_step bigint,
            enrolment_token_sha256 bytea UNIQUE CHECK (length(enrolment_token_sha256) = 32),
            enrolment_expires_at timestamptz,
            enrolled_at timestamptz,
            second_factor_failures int NOT NULL DEFAULT 0,
            locked_at timestamptz,
            disabled_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((enrolment_token_sha256 IS NULL) = (enrolment_expires_at IS NULL))
        )
        """,
        """
        CREATE TABLE staff_passkeys (
            credential_id bytea PRIMARY KEY,
            staff bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
            public_key bytea NOT NULL,
            algorithm int NOT NULL,
            sign_count bigint NOT NULL DEFAULT 0,
            backup_eligible boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz
        )
        """,
        "CREATE INDEX staff_passkeys_staff ON staff_passkeys (staff)",
        // Only the cookie's SHA-256 is kept; state says how far the session is signed in.
        """
        CREATE TABLE staff_sessions (
            digest bytea PRIMARY KEY CHECK (length(digest) = 32),
            staff bigint REFERENCES staff (id) ON DELETE CASCADE,
            state text NOT NULL CHECK (state IN ('anonymous', 'password', 'enrolling', 'signed-in')),
            csrf text NOT NULL,
            challenge bytea,
            challenge_purpose text,
            challenge_expires_at timestamptz,
            address text,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_seen_at timestamptz NOT NULL DEFAULT now(),
            authenticated_at timestamptz,
            second_factor_at timestamptz
        )
        """,
        "CREATE INDEX staff_sessions_staff ON staff_sessions (staff)",
        """
        CREATE TABLE staff_throttles (
            key text PRIMARY KEY,
            failures int NOT NULL DEFAULT 0,
            blocked_until timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        // A held batch's review: pending until a reviewer approves (delivered under the registered patient, the
        // reviewer and reason recorded), rejects (kept until purge_after, then its bytes are purged) or reassigns it
        // to another registered patient (protected again against that patient).
        """
        ALTER TABLE batches
            ADD COLUMN review_state text CHECK (review_state IN ('pending', 'approved', 'rejected', 'reassigned')),
            ADD COLUMN review_reason text,
            ADD COLUMN reviewed_by text,
            ADD COLUMN reviewed_at timestamptz,
            ADD COLUMN assigned_patient bigint REFERENCES patients (id),
            ADD COLUMN purge_after timestamptz,
            ADD COLUMN purged_at timestamptz,
            ADD CONSTRAINT batches_review_whole CHECK ((review_state IN ('approved', 'rejected', 'reassigned')) = (reviewed_by IS NOT NULL)),
            ADD CONSTRAINT batches_purge_of_rejected CHECK (purge_after IS NULL OR review_state = 'rejected')
        """,
        "CREATE INDEX batches_review ON batches (created_at) WHERE state = 'held'",
        "CREATE INDEX batches_purge ON batches (purge_after) WHERE purge_after IS NOT NULL AND purged_at IS NULL",
        // One row per batch: `summary` is what the analytics count (the kiosk's own summary, as it forwarded it, for
        // a kiosk session; the worker's for a patient's upload); `checked` is the worker's summary of any batch.
        """
        CREATE TABLE session_summaries (
            batch uuid PRIMARY KEY REFERENCES batches (id),
            source text NOT NULL CHECK (source IN ('kiosk', 'portal')),
            kiosk bigint REFERENCES kiosks (id),
            day date NOT NULL,
            started_at timestamptz,
            institutions text[] NOT NULL DEFAULT '{}',
            summary jsonb,
            checked jsonb,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((source = 'kiosk') = (kiosk IS NOT NULL)),
            CHECK (num_nonnulls(summary, checked) > 0)
        )
        """,
        "CREATE INDEX session_summaries_day ON session_summaries (day, kiosk)",
        """
        CREATE TABLE workers (
            name text PRIMARY KEY,
            host text NOT NULL,
            pid int NOT NULL,
            started_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            batches_done bigint NOT NULL DEFAULT 0,
            batches_failed bigint NOT NULL DEFAULT 0,
            current_batch uuid,
            stopped_at timestamptz
        )
        """,
        // The kiosk's audit key (Ed25519, base64), pinned at its first signed segment; each session's trail segment
        // and whether its records chain and its checkpoint's signature verify with that key.
        """
        ALTER TABLE kiosks
            ADD COLUMN last_seen_at timestamptz,
            ADD COLUMN last_address text,
            ADD COLUMN audit_public_key text,
            ADD COLUMN audit_last_seq bigint
        """,
        """
        CREATE TABLE kiosk_audit (
            batch uuid PRIMARY KEY REFERENCES batches (id),
            kiosk bigint NOT NULL REFERENCES kiosks (id),
            first_seq bigint,
            last_seq bigint,
            checkpoint_seq bigint,
            outcome text NOT NULL CHECK (outcome IN ('verified', 'unsigned', 'failed')),
            problem text,
            records jsonb NOT NULL DEFAULT '[]',
            received_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX kiosk_audit_kiosk ON kiosk_audit (kiosk, received_at)",
        """
        CREATE TABLE atna_forwarding (
            single boolean PRIMARY KEY DEFAULT true CHECK (single),
            last_seq bigint NOT NULL CHECK (last_seq >= 0)
        )
        """,
        "ALTER TABLE patients ADD COLUMN edge_reset_requested_at timestamptz",
        // The audit search looks records up by time and by the patient, staff member, kiosk or batch they name.
        "CREATE INDEX audit_at ON audit (at)",
        "CREATE INDEX audit_actor ON audit (actor, seq)",
        "CREATE INDEX audit_patient ON audit ((detail->>'patient'), seq) WHERE detail ? 'patient'",
        "CREATE INDEX audit_batch ON audit ((detail->>'batch'), seq) WHERE detail ? 'batch'",
        "CREATE INDEX audit_kiosk ON audit ((detail->>'kiosk'), seq) WHERE detail ? 'kiosk'",
        // A patient's page lists the kiosk sessions whose desk named their Patient ID (as the worker's report has it).
        "CREATE INDEX batches_expected_patient ON batches ((report->'expectedPatient'->>'id')) WHERE kiosk IS NOT NULL",
        // A rejected batch's uploads once their bytes are purged: kept as rows for the record, never read again.
        """
        ALTER TABLE uploads DROP CONSTRAINT uploads_state_check,
            ADD CONSTRAINT uploads_state_check CHECK (state IN ('receiving', 'complete', 'terminated', 'expired', 'purged'))
        """,
    ])
}
