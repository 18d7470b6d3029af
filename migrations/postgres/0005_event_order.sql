-- The order in which the coordinator took in a study's events, as the early-stopping rule saw
-- them: one number per study, increasing, stamped on each epoch report (every metric of a
-- report's epochs shares it) and on each attempt's start and end. `hypersearch replay` feeds
-- a rule the recorded curves in this order; rows written before this migration have NULL.
ALTER TABLE epoch_metrics ADD COLUMN seq BIGINT;
ALTER TABLE attempts ADD COLUMN started_seq BIGINT;
ALTER TABLE attempts ADD COLUMN finished_seq BIGINT;
