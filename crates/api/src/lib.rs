//! The REST API under `/api/v1`: JSON in and out, bearer tokens, errors in one shape,
//! and an OpenAPI document generated from the handlers' annotations.

pub mod agent;
pub mod channels;
pub mod config;
pub mod incidents;
pub mod maintenance;
pub mod monitors;
pub mod nodes;
pub mod openapi;
pub mod redis;
pub mod status_pages;
pub mod tokens;

use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use utoipa::OpenApi;

use vigilmon_app::auth::Scope;
use vigilmon_app::extract::Caller;
use vigilmon_app::{AppError, AppState};

/// The OpenAPI description of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Vigilmon API", description = "Monitors, their states and check results."),
    paths(
        monitors::list, monitors::create, monitors::get, monitors::patch, monitors::delete,
        monitors::pause, monitors::resume, monitors::check_now, monitors::results, monitors::pings, redis::list, redis::add, agent::regions, nodes::list,
        incidents::list, incidents::get, incidents::acknowledge, incidents::resolve, incidents::note,
        channels::list_channels, channels::get_channel, channels::create_channel, channels::put_channel,
        channels::delete_channel, channels::test_channel, channels::deliveries,
        channels::list_policies, channels::create_policy, channels::put_policy, channels::delete_policy,
        maintenance::list, maintenance::create, maintenance::put, maintenance::end, maintenance::delete,
        status_pages::list, status_pages::get, status_pages::create, status_pages::put,
        status_pages::delete, status_pages::uptime, status_pages::rollups,
        status_pages::list_updates, status_pages::add_update,
        tokens::list, tokens::create, tokens::revoke,
        config::export, config::apply,
    ),
    // The kinds of monitors and channels are referred to by name from the configs
    // that flatten them; registered here so that every reference resolves.
    components(schemas(vigilmon_core::KindConfig, vigilmon_notify::ChannelKind)),
    modifiers(&BearerAuth, &CommonErrors),
    tags(
        (name = "monitors", description = "HTTP, TCP, Redis, PostgreSQL and heartbeat monitors"),
        (name = "incidents", description = "Incidents and their timelines"),
        (name = "alerting", description = "Channels, policies and maintenance windows"),
        (name = "regions", description = "Probe regions and their agents, and the nodes of the cluster"),
        (name = "tokens", description = "API and agent tokens (an agent token declares its region)"),
        (name = "status pages", description = "Public status pages, their JSON, uptime and public incident updates"),
        (name = "as code", description = "The configuration as a document, and a document applied (vigilmon export, vigilmon apply)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers every operation can give besides its own, documented on each: `401`
/// (no or unknown token) and `403` (a token whose scope does not reach) on every
/// operation that takes a token; `400` (unreadable body), `413` (body over 256 KiB)
/// and `422` (invalid fields) on every operation that takes a body; `404` on every
/// operation addressed by a path parameter.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                let mut add = |code: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                if op.security.is_some() {
                    add("401", "no token, or an unknown or revoked one");
                    add("403", "the token's scope does not allow this");
                }
                if op.request_body.is_some() {
                    add("400", "the body is not readable JSON of the right shape");
                    add("413", "the body is larger than 256 KiB");
                    add("422", "a field is invalid; the error names it");
                }
                let by_path = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.parameter_in == ParameterIn::Path);
                if by_path {
                    add("404", "nothing answers to this path");
                }
            }
        }
    }
}

/// The whole OpenAPI document as served: this crate's merged with `others`, its
/// flattened schemas written out as plain objects ([`openapi::flatten_compositions`]).
pub fn document(others: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    doc.merge(others);
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    openapi::flatten_compositions(&mut doc);
    doc
}

/// `GET /api/v1/openapi.json`: this crate's document merged with `others` (the public
/// surface documents its JSON endpoint itself).
pub fn openapi_route(others: utoipa::openapi::OpenApi) -> Router<AppState> {
    let doc = document(others);
    let doc = std::sync::Arc::new(doc);
    Router::new().route(
        "/api/v1/openapi.json",
        get(move |caller: Caller| {
            let doc = doc.clone();
            async move {
                caller.require(Scope::Read)?;
                Ok::<_, AppError>(Json((*doc).clone()))
            }
        }),
    )
}

async fn not_found() -> AppError {
    AppError::NotFound("no such API endpoint".to_owned())
}

/// The `/api/v1` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/monitors",
            get(monitors::list).post(monitors::create),
        )
        .route(
            "/api/v1/monitors/{id}",
            get(monitors::get)
                .patch(monitors::patch)
                .delete(monitors::delete),
        )
        .route("/api/v1/monitors/{id}/pause", post(monitors::pause))
        .route("/api/v1/monitors/{id}/resume", post(monitors::resume))
        .route("/api/v1/monitors/{id}/check-now", post(monitors::check_now))
        .route("/api/v1/monitors/{id}/results", get(monitors::results))
        .route("/api/v1/monitors/{id}/pings", get(monitors::pings))
        .route(
            "/api/v1/monitors/{id}/redis-replicas",
            get(redis::list).post(redis::add),
        )
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get))
        .route(
            "/api/v1/incidents/{id}/acknowledge",
            post(incidents::acknowledge),
        )
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/api/v1/incidents/{id}/notes", post(incidents::note))
        .route(
            "/api/v1/channels",
            get(channels::list_channels).post(channels::create_channel),
        )
        .route(
            "/api/v1/channels/{name}",
            get(channels::get_channel)
                .put(channels::put_channel)
                .delete(channels::delete_channel),
        )
        .route("/api/v1/channels/{name}/test", post(channels::test_channel))
        .route(
            "/api/v1/channels/{name}/deliveries",
            get(channels::deliveries),
        )
        .route(
            "/api/v1/policies",
            get(channels::list_policies).post(channels::create_policy),
        )
        .route(
            "/api/v1/policies/{name}",
            axum::routing::put(channels::put_policy).delete(channels::delete_policy),
        )
        .route(
            "/api/v1/maintenance",
            get(maintenance::list).post(maintenance::create),
        )
        .route(
            "/api/v1/maintenance/{id}",
            axum::routing::put(maintenance::put).delete(maintenance::delete),
        )
        .route("/api/v1/maintenance/{id}/end", post(maintenance::end))
        .route("/api/v1/config", get(config::export))
        .route("/api/v1/config/apply", post(config::apply))
        .route("/api/v1/regions", get(agent::regions))
        .route("/api/v1/nodes", get(nodes::list))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/api/v1/agent/assignments", get(agent::assignments))
        .route(
            "/api/v1/agent/results",
            post(agent::results).layer(axum::extract::DefaultBodyLimit::max(
                vigilmon_core::protocol::MAX_RESULTS_BODY_BYTES,
            )),
        )
        .route("/api/v1/agent/wait", get(agent::wait))
        .route(
            "/api/v1/status-pages",
            get(status_pages::list).post(status_pages::create),
        )
        .route(
            "/api/v1/status-pages/{slug}",
            get(status_pages::get)
                .put(status_pages::put)
                .delete(status_pages::delete),
        )
        .route("/api/v1/monitors/{id}/uptime", get(status_pages::uptime))
        .route("/api/v1/monitors/{id}/rollups", get(status_pages::rollups))
        .route(
            "/api/v1/incidents/{id}/updates",
            get(status_pages::list_updates).post(status_pages::add_update),
        )
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
}
