-- Events are claimed before their bot is triggered and confirmed once it started: a claim is
-- pending while `claim_expires_at` is set. A pending claim lapses when its lease runs out or its
-- run failed, so that a listener that crashed or could not start the bot does not keep the
-- event from being handled. Events recorded before this migration were recorded after their bot
-- started: they are handled.
ALTER TABLE events ADD COLUMN claim_expires_at timestamptz;
