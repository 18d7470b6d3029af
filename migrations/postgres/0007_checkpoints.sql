-- Checkpoints of running trainings (see docs/SCHEMA.md and docs/MODELS.md): at most one row
-- per trial, the latest the worker sent after an epoch, in nn-core's train::Checkpoint format
-- (versioned, CRC-32). A retry of an attempt lost to infrastructure resumes from it; the row
-- is deleted when the trial ends, or when an attempt fails with a user error.
CREATE TABLE checkpoints (
    trial_id   BIGINT  NOT NULL PRIMARY KEY REFERENCES trials (id),
    attempt    BIGINT  NOT NULL CHECK (attempt >= 1),
    epoch      BIGINT  NOT NULL CHECK (epoch >= 1),
    size       BIGINT  NOT NULL CHECK (size >= 0),
    sha256     TEXT    NOT NULL,
    checkpoint BYTEA   NOT NULL,
    stored_at  TEXT    NOT NULL
);

-- The epoch of the checkpoint an attempt resumed from (NULL: it started from scratch), and
-- why a checkpoint it was handed could not be used (it then started from scratch).
ALTER TABLE attempts ADD COLUMN resumed_from BIGINT CHECK (resumed_from >= 1);
ALTER TABLE attempts ADD COLUMN checkpoint_note TEXT;

-- The first attempt whose epochs make up the trial's curve: set when an attempt resumed
-- from a checkpoint an earlier attempt sent (the epochs those ran past it are deleted);
-- NULL means the latest attempt alone.
ALTER TABLE trials ADD COLUMN curve_from BIGINT CHECK (curve_from >= 1);
