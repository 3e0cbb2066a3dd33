//! The OpenAPI 3 document of the management API, generated from the handlers'
//! annotations, served at `/api/v1/openapi.json`. Every operation gets the security
//! requirement and the error answers every endpoint can give (400, 401, 403, 503).

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, ResponseBuilder, SecurityRequirement};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::{
    account_links, applications, audit_events, body, claim_mappings, claim_types, connections, custom_claims,
    identity_scopes, initial_access_tokens, management_keys, organizations, preview, roles, scripts, signing_keys,
    token_exchange, users,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera management API", version = "1",
        description = "Create, read, update, delete and list what Tessera manages. Authenticate with a management API key."),
    paths(
        applications::list, applications::create, applications::get, applications::replace, applications::delete,
        applications::regenerate_secret,
        connections::list, connections::create, connections::get, connections::update, connections::delete,
        connections::list_scopes, connections::add_scope, connections::update_scope, connections::delete_scope,
        connections::rotate_secret,
        connections::protected_resource_metadata,
        claim_types::list, claim_types::create, claim_types::get, claim_types::update, claim_types::delete,
        claim_types::put_user_editable,
        identity_scopes::list, identity_scopes::create, identity_scopes::get, identity_scopes::update,
        identity_scopes::delete,
        users::list, users::create, users::get, users::update, users::delete, users::set_claims,
        users::set_password, users::add_role, users::remove_role,
        users::sessions::list_sessions, users::sessions::end_sessions, users::sessions::end_session,
        users::sessions::list_consents, users::sessions::revoke_consent,
        users::factors::list_factors, users::factors::reset_factors,
        account_links::send_verification, account_links::send_recovery_link,
        roles::list, roles::create, roles::get, roles::update, roles::delete,
        organizations::list, organizations::create, organizations::get, organizations::replace,
        organizations::delete, organizations::list_members, organizations::set_member,
        organizations::remove_member,
        management_keys::list, management_keys::create, management_keys::get, management_keys::revoke,
        initial_access_tokens::list, initial_access_tokens::create, initial_access_tokens::get,
        initial_access_tokens::revoke,
        signing_keys::list, signing_keys::rotate,
        audit_events::list,
        custom_claims::add_custom_claims,
        scripts::list, scripts::get, scripts::save, scripts::runner::test,
        scripts::variables::list, scripts::variables::set, scripts::variables::delete,
        claim_mappings::list, claim_mappings::create, claim_mappings::get, claim_mappings::replace,
        claim_mappings::delete, preview::preview,
        token_exchange::get, token_exchange::replace, token_exchange::preview,
    ),
    components(schemas(ErrorBody, body::RotateSecret)),
    modifiers(&Common)
)]
pub struct ApiDoc;

/// Adds the security schemes, the requirement on every operation and the common errors.
struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("<key_id>.<secret>")
                    .description(Some("A management API key"))
                    .build(),
            ),
        );
        components
            .add_security_scheme("api_key_id", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("API_KEY_ID"))));
        components.add_security_scheme(
            "api_secret_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("API_SECRET_KEY"))),
        );
        let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
        let headers =
            SecurityRequirement::new("api_key_id", Vec::<String>::new()).add("api_secret_key", Vec::<String>::new());
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            for op in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                op.security = Some(vec![bearer.clone(), headers.clone()]);
                let responses = &mut op.responses.responses;
                for (status, description) in [
                    ("400", "invalid request: `field` names what to fix"),
                    ("401", "no usable management key"),
                    ("403", "forbidden"),
                    ("503", "the database is unavailable"),
                ] {
                    responses.entry(status.to_owned()).or_insert_with(|| error(description));
                }
            }
        }
    }
}

/// `GET /api/v1/openapi.json` (public: it describes, it reveals nothing).
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
