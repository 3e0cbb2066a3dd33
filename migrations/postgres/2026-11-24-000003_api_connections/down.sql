DROP TABLE api_connection_secrets;
DROP TABLE api_connections;
