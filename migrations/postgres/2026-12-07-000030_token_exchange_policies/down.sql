ALTER TABLE api_connections DROP COLUMN token_exchange_policy;
