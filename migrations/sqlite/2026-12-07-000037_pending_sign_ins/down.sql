DROP TABLE pending_sign_ins;
