//! The diesel schema shared by both backends. Hand-written to match
//! `migrations/postgres` and `migrations/sqlite`: every column uses a type both backends
//! support (`Text`, `BigInt`, `Bool`, `Integer`), times are unix seconds and JSON is text.

diesel::table! {
    instance (id) {
        id -> Integer,
        master_key_check -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        password_hash -> Nullable<Text>,
        disabled -> Bool,
        app_metadata -> Text,
        user_metadata -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    claim_types (name) {
        name -> Text,
        display_name -> Text,
        description -> Text,
        value_type -> Text,
        standard -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        user_editable -> Bool,
    }
}

diesel::table! {
    user_claims (user_id, claim_name) {
        user_id -> Text,
        claim_name -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    api_connections (id) {
        id -> Text,
        name -> Text,
        display_name -> Text,
        description -> Text,
        access_token_format -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        token_exchange_policy -> Text,
        resource_uri -> Nullable<Text>,
        required_acr -> Nullable<Text>,
        required_max_age -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_connection_secrets (id) {
        id -> Text,
        connection_id -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    scopes (name) {
        name -> Text,
        kind -> Text,
        connection_id -> Nullable<Text>,
        display_name -> Text,
        description -> Text,
        standard -> Bool,
        show_in_discovery -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        required_acr -> Nullable<Text>,
        required_max_age -> Nullable<BigInt>,
    }
}

diesel::table! {
    scope_claims (scope_name, claim_name) {
        scope_name -> Text,
        claim_name -> Text,
    }
}

diesel::table! {
    applications (id) {
        id -> Text,
        client_id -> Text,
        name -> Text,
        description -> Text,
        app_type -> Text,
        token_endpoint_auth_method -> Text,
        grant_types -> Text,
        access_token_format -> Text,
        id_token_signed_response_alg -> Text,
        access_token_lifetime -> BigInt,
        id_token_lifetime -> BigInt,
        refresh_token_lifetime -> BigInt,
        authorization_code_lifetime -> BigInt,
        require_consent -> Bool,
        always_issue_refresh_token -> Bool,
        jwks -> Nullable<Text>,
        app_metadata -> Text,
        enabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        refresh_token_retry_grace_seconds -> BigInt,
        require_pushed_authorization_requests -> Bool,
        dpop_bound_access_tokens -> Bool,
        require_signed_request_object -> Bool,
        backchannel_logout_uri -> Nullable<Text>,
        backchannel_logout_session_required -> Bool,
        require_verified_email -> Bool,
        self_registration -> Bool,
        jwks_uri -> Nullable<Text>,
        request_uris -> Text,
        /// `dynamic` (RFC 7591) or `metadata_document`; NULL: created by an administrator.
        registration -> Nullable<Text>,
        sign_in_policy -> Nullable<Text>,
    }
}

diesel::table! {
    /// RFC 7591 §3 initial access tokens: SHA-256 hashes, with their remaining uses.
    initial_access_tokens (id) {
        id -> Text,
        token_hash -> Text,
        note -> Text,
        quota -> BigInt,
        uses_left -> BigInt,
        expires_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    /// Registered clients' metadata beyond their settings and their RFC 7592 token hash.
    client_registrations (application_id) {
        application_id -> Text,
        access_token_hash -> Nullable<Text>,
        initial_access_token_id -> Nullable<Text>,
        metadata -> Text,
        expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    application_secrets (id) {
        id -> Text,
        application_id -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    application_redirect_uris (application_id, kind, uri) {
        application_id -> Text,
        kind -> Text,
        uri -> Text,
    }
}

diesel::table! {
    application_scopes (application_id, scope_name) {
        application_id -> Text,
        scope_name -> Text,
    }
}

diesel::table! {
    application_required_claims (application_id, claim_name) {
        application_id -> Text,
        claim_name -> Text,
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    user_roles (user_id, role_id) {
        user_id -> Text,
        role_id -> Text,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        display_name -> Text,
        metadata -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    organization_members (organization_id, user_id) {
        organization_id -> Text,
        user_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    organization_member_roles (organization_id, user_id, role_id) {
        organization_id -> Text,
        user_id -> Text,
        role_id -> Text,
    }
}

diesel::table! {
    browser_sessions (id_hash) {
        id_hash -> Text,
        sid -> Text,
        user_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        amr -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    admin_sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        client_ip -> Nullable<Text>,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
        awaiting_factor -> Bool,
    }
}

diesel::table! {
    authorization_requests (id_hash) {
        id_hash -> Text,
        application_id -> Text,
        session_id_hash -> Nullable<Text>,
        parameters -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    pushed_authorization_requests (request_uri_hash) {
        request_uri_hash -> Text,
        application_id -> Text,
        parameters -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    device_codes (device_code_hash) {
        device_code_hash -> Text,
        user_code_hash -> Text,
        grant_id -> Text,
        application_id -> Text,
        scope -> Text,
        resources -> Text,
        status -> Text,
        poll_interval -> BigInt,
        last_polled_at -> Nullable<BigInt>,
        too_fast -> BigInt,
        user_id -> Nullable<Text>,
        sid -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        application_id -> Text,
        user_id -> Text,
        sid -> Nullable<Text>,
        redirect_uri -> Text,
        scope -> Text,
        resources -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        auth_time -> BigInt,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    consents (user_id, application_id) {
        user_id -> Text,
        application_id -> Text,
        scope -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        application_id -> Text,
        user_id -> Nullable<Text>,
        sid -> Nullable<Text>,
        scope -> Text,
        resources -> Text,
        auth_time -> Nullable<BigInt>,
        amr -> Text,
        custom_claims -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        issued_claims -> Text,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        replaced_by -> Nullable<Text>,
    }
}

diesel::table! {
    reference_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Nullable<Text>,
        application_id -> Text,
        user_id -> Nullable<Text>,
        claims -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    dpop_proofs (jti_hash) {
        jti_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    client_assertion_jtis (application_id, jti_hash) {
        application_id -> Text,
        jti_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        private_key -> Text,
        public_jwk -> Text,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
        publish_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    custom_claim_scripts (kind) {
        kind -> Text,
        source -> Text,
        enabled -> Bool,
        on_failure -> Text,
        version -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    script_environment_variables (name) {
        name -> Text,
        value -> Text,
        secret -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    management_keys (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Text,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        parent_id -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> BigInt,
        actor -> Text,
        action -> Text,
        target -> Text,
        summary -> Text,
        client_ip -> Nullable<Text>,
    }
}

diesel::table! {
    sign_in_throttle (key) {
        key -> Text,
        failures -> BigInt,
        window_started_at -> BigInt,
        locked_until -> Nullable<BigInt>,
        refused -> BigInt,
        refusal_audited_at -> Nullable<BigInt>,
        audit_refusal -> Bool,
    }
}

diesel::table! {
    claim_mappings (id) {
        id -> Text,
        application_id -> Nullable<Text>,
        subject -> Text,
        source -> Text,
        path -> Text,
        namespace -> Text,
        name -> Text,
        claim -> Text,
        outputs -> Text,
        freshness -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    config_version (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::joinable!(user_claims -> users (user_id));
diesel::joinable!(user_claims -> claim_types (claim_name));
diesel::joinable!(api_connection_secrets -> api_connections (connection_id));
diesel::joinable!(scopes -> api_connections (connection_id));
diesel::joinable!(scope_claims -> scopes (scope_name));
diesel::joinable!(scope_claims -> claim_types (claim_name));
diesel::joinable!(application_secrets -> applications (application_id));
diesel::joinable!(application_redirect_uris -> applications (application_id));
diesel::joinable!(application_scopes -> applications (application_id));
diesel::joinable!(application_scopes -> scopes (scope_name));
diesel::joinable!(application_required_claims -> applications (application_id));
diesel::joinable!(application_required_claims -> claim_types (claim_name));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(user_roles -> roles (role_id));
diesel::joinable!(organization_members -> organizations (organization_id));
diesel::joinable!(organization_members -> users (user_id));
diesel::joinable!(organization_member_roles -> roles (role_id));
diesel::joinable!(refresh_tokens -> grants (grant_id));

diesel::table! {
    /// Background jobs (mail, later logout tokens), claimed atomically by one worker.
    outbox (id) {
        id -> Text,
        kind -> Text,
        payload -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    account_tokens (token_hash) {
        token_hash -> Text,
        purpose -> Text,
        user_id -> Text,
        email -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Passkeys (WebAuthn credentials) of users.
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        credential -> Text,
        credential_id -> Text,
        device_bound -> Bool,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// One TOTP secret per user, encrypted under the master key.
    totp_secrets (user_id) {
        user_id -> Text,
        secret -> Text,
        confirmed_at -> Nullable<BigInt>,
        last_used_step -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    /// Recovery codes of users, as SHA-256 hashes.
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// WebAuthn ceremonies in progress, taken once.
    webauthn_ceremonies (id_hash) {
        id_hash -> Text,
        user_id -> Nullable<Text>,
        kind -> Text,
        state -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    pending_sign_ins (session_id_hash) {
        session_id_hash -> Text,
        user_id -> Text,
        amr -> Text,
        started_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    instance,
    initial_access_tokens,
    client_registrations,
    users,
    claim_types,
    user_claims,
    api_connections,
    api_connection_secrets,
    scopes,
    scope_claims,
    applications,
    application_secrets,
    application_redirect_uris,
    application_scopes,
    application_required_claims,
    roles,
    user_roles,
    organizations,
    organization_members,
    organization_member_roles,
    browser_sessions,
    admin_sessions,
    authorization_requests,
    pushed_authorization_requests,
    device_codes,
    authorization_codes,
    consents,
    grants,
    refresh_tokens,
    reference_tokens,
    client_assertion_jtis,
    dpop_proofs,
    signing_keys,
    custom_claim_scripts,
    script_environment_variables,
    management_keys,
    audit_events,
    sign_in_throttle,
    config_version,
    claim_mappings,
    outbox,
    account_tokens,
    passkeys,
    totp_secrets,
    recovery_codes,
    webauthn_ceremonies,
    pending_sign_ins,
);
