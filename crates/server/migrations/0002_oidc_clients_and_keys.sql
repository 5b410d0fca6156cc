-- civkey schema, version 2: services that log citizens in (OpenID Connect clients) and the keys
-- ID tokens are signed with.

CREATE TABLE oidc_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- SHA-256 (hex) of the client secret; the secret itself is shown once, at registration.
    secret_hash TEXT NOT NULL,
    -- JSON array of redirect URIs, matched exactly.
    redirect_uris TEXT NOT NULL,
    logo_url TEXT,
    -- Pairwise subject identifiers are derived per sector, so two services cannot link a citizen.
    sector TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- ES256 signing keys. One is active (retired_at NULL); retired keys stay published in the JWKS
-- until every token they signed has expired (forget_after), then they are deleted.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    private_pkcs8 TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    forget_after BIGINT
);
