-- API tokens may expire: past `expires_at` a token authenticates no more (NULL: never).
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
