-- Each worker's own credential, handed out at registration: only its SHA-256 (hex) is
-- kept. Workers registered before this column existed have none and must join again.
ALTER TABLE workers ADD COLUMN credential_sha256 TEXT;
