-- The trials database (see docs/SCHEMA.md). Only the coordinator writes it.
-- Timestamps are UTC text in ISO 8601 with milliseconds ("2026-11-05T14:03:22.117Z").

CREATE TABLE studies (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    metric      TEXT    NOT NULL,
    direction   TEXT    NOT NULL CHECK (direction IN ('minimize', 'maximize')),
    algorithm   TEXT    NOT NULL,
    budget      INTEGER NOT NULL CHECK (budget >= 0),
    config      TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'finished')),
    created_at  TEXT    NOT NULL,
    finished_at TEXT
);

CREATE TABLE workers (
    id            INTEGER PRIMARY KEY,
    study_id      INTEGER NOT NULL REFERENCES studies (id),
    name          TEXT    NOT NULL,
    hostname      TEXT    NOT NULL,
    slots         INTEGER NOT NULL,
    version       TEXT    NOT NULL,
    registered_at TEXT    NOT NULL
);

CREATE TABLE trials (
    id             INTEGER PRIMARY KEY,
    study_id       INTEGER NOT NULL REFERENCES studies (id),
    number         INTEGER NOT NULL,
    state          TEXT    NOT NULL
                   CHECK (state IN ('queued', 'running', 'complete', 'pruned', 'failed')),
    params         TEXT    NOT NULL,
    overrides      TEXT    NOT NULL,
    value          REAL,
    metrics        TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    infra_failures INTEGER NOT NULL DEFAULT 0,
    user_failures  INTEGER NOT NULL DEFAULT 0,
    worker_id      INTEGER REFERENCES workers (id),
    error          TEXT,
    created_at     TEXT    NOT NULL,
    started_at     TEXT,
    finished_at    TEXT,
    UNIQUE (study_id, number)
);

CREATE INDEX trials_by_value ON trials (study_id, state, value);

CREATE TABLE attempts (
    trial_id    INTEGER NOT NULL REFERENCES trials (id),
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    worker_id   INTEGER NOT NULL REFERENCES workers (id),
    lease_token INTEGER NOT NULL,
    state       TEXT    NOT NULL
                CHECK (state IN ('running', 'complete', 'pruned', 'failed', 'lost')),
    failure     TEXT    CHECK (failure IN ('user', 'infrastructure')),
    error       TEXT,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (trial_id, attempt)
) WITHOUT ROWID;

CREATE TABLE epoch_metrics (
    trial_id INTEGER NOT NULL REFERENCES trials (id),
    attempt  INTEGER NOT NULL,
    epoch    INTEGER NOT NULL CHECK (epoch >= 1),
    name     TEXT    NOT NULL,
    value    REAL    NOT NULL,
    PRIMARY KEY (trial_id, attempt, epoch, name)
) WITHOUT ROWID;

CREATE TABLE early_stops (
    trial_id    INTEGER NOT NULL REFERENCES trials (id),
    attempt     INTEGER NOT NULL,
    epoch       INTEGER NOT NULL,
    rule        TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    value       REAL    NOT NULL,
    threshold   REAL    NOT NULL,
    explanation TEXT    NOT NULL,
    decided_at  TEXT    NOT NULL,
    PRIMARY KEY (trial_id, attempt)
) WITHOUT ROWID;
