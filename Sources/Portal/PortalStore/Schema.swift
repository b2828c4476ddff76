/// The portal's schema, as migrations. Never edit one that has shipped: add the next version.
public enum Schema {
    public static let migrations: [Migration] = [v1, v2, v3, v4]

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
}
