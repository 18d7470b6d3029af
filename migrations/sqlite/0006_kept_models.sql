-- The trained networks the coordinator keeps (`[study] keep_models`, see docs/SCHEMA.md and
-- docs/MODELS.md): one row per trial at most, the model its finished attempt sent, in the
-- format of nn-core's model::file (versioned, CRC-32). Rows of trials that leave the best
-- `keep_models` complete trials, or end other than complete, are deleted.
CREATE TABLE kept_models (
    trial_id  INTEGER NOT NULL PRIMARY KEY REFERENCES trials (id),
    attempt   INTEGER NOT NULL CHECK (attempt >= 1),
    size      INTEGER NOT NULL CHECK (size >= 0),
    sha256    TEXT    NOT NULL,
    model     BLOB    NOT NULL,
    stored_at TEXT    NOT NULL
);
