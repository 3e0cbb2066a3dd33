-- RFC 9101 §10.5: an application may accept authorization requests only as signed request objects.
ALTER TABLE applications ADD COLUMN require_signed_request_object BOOLEAN NOT NULL DEFAULT FALSE;
