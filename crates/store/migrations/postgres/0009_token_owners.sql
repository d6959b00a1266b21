-- Tokens belong to the user who made them (in the web UI or through the API with a
-- token of theirs); removing the user removes their tokens with them. Tokens made with
-- the CLI have no user: they are service tokens.
ALTER TABLE api_tokens ADD COLUMN user_id UUID REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
