//! Liveness and readiness, for load balancers and orchestrators.

use std::time::Duration;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, get, web};
use serde_json::json;
use tessera_store::Store;

/// How long `/readyz` waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is alive and serving HTTP.
#[get("/healthz")]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().insert_header(CacheControl(vec![CacheDirective::NoStore])).json(json!({ "status": "ok" }))
}

/// The node can serve requests: its database answers. 503 with the reason otherwise,
/// and 200 again as soon as the database is back (the pool reconnects by itself).
#[get("/readyz")]
pub(crate) async fn readyz(store: web::Data<Store>) -> HttpResponse {
    let store = store.into_inner();
    let result = web::block(move || store.ping(READY_TIMEOUT)).await;
    let no_store = CacheControl(vec![CacheDirective::NoStore]);
    match result {
        Ok(Ok(())) => HttpResponse::Ok().insert_header(no_store).json(json!({ "status": "ready" })),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header(no_store)
                .json(json!({ "status": "unavailable", "reason": "database unreachable" }))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .insert_header(no_store)
            .json(json!({ "status": "unavailable", "reason": "readiness check was cancelled" })),
    }
}
