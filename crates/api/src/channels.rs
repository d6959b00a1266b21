//! `/api/v1/channels` and `/api/v1/policies`: where notifications go and who is told
//! what. Secrets (webhook URLs, routing keys, signing secrets) are never returned;
//! sending the mask back keeps the stored value.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vigilmon_app::AppState;
use vigilmon_app::auth::Scope;
use vigilmon_app::channels::*;
use vigilmon_app::error::{AppError, ErrorBody};
use vigilmon_app::extract::{ApiJson, Caller, Writer};
use vigilmon_core::alert::PolicyConfig;
use vigilmon_notify::ChannelConfig;

/// Every channel.
#[utoipa::path(get, path = "/api/v1/channels", tag = "alerting",
    responses((status = 200, body = ChannelList)), security(("bearer" = [])))]
pub async fn list_channels(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<ChannelList>, AppError> {
    caller.require(Scope::Read)?;
    Ok(Json(ChannelList {
        channels: list_channel_views(&st).await?,
    }))
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/channels/{name}", tag = "alerting",
    params(("name" = String, Path)), responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_channel(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ChannelView>, AppError> {
    caller.require(Scope::Read)?;
    Ok(Json(channel_view(&find(&st, "channels", &name).await?)?))
}

/// Create a channel.
#[utoipa::path(post, path = "/api/v1/channels", tag = "alerting", request_body = ChannelConfig,
    responses((status = 201, body = ChannelView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_channel(
    State(st): State<AppState>,
    _: Writer,
    ApiJson(config): ApiJson<ChannelConfig>,
) -> Result<(StatusCode, Json<ChannelView>), AppError> {
    create_channel_config(&st, config.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(channel_view(
            &find(&st, "channels", config.name.trim()).await?,
        )?),
    ))
}

/// Replace a channel's settings (the name stays). Masked secrets keep their stored values.
#[utoipa::path(put, path = "/api/v1/channels/{name}", tag = "alerting", request_body = ChannelConfig,
    params(("name" = String, Path)),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_channel(
    State(st): State<AppState>,
    _: Writer,
    Path(name): Path<String>,
    ApiJson(config): ApiJson<ChannelConfig>,
) -> Result<Json<ChannelView>, AppError> {
    update_channel_config(&st, &name, config).await?;
    Ok(Json(channel_view(&find(&st, "channels", &name).await?)?))
}

/// Delete a channel no policy uses.
#[utoipa::path(delete, path = "/api/v1/channels/{name}", tag = "alerting", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_channel(
    State(st): State<AppState>,
    _: Writer,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_channel_named(&st, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every policy.
#[utoipa::path(get, path = "/api/v1/policies", tag = "alerting",
    responses((status = 200, body = PolicyList)), security(("bearer" = [])))]
pub async fn list_policies(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<PolicyList>, AppError> {
    caller.require(Scope::Read)?;
    Ok(Json(PolicyList {
        policies: list_policy_views(&st).await?,
    }))
}

/// Create a policy.
#[utoipa::path(post, path = "/api/v1/policies", tag = "alerting", request_body = PolicyConfig,
    responses((status = 201, body = PolicyView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_policy(
    State(st): State<AppState>,
    _: Writer,
    ApiJson(config): ApiJson<PolicyConfig>,
) -> Result<(StatusCode, Json<PolicyView>), AppError> {
    create_policy_config(&st, config.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(PolicyView {
            config,
            source: "api",
        }),
    ))
}

/// Replace a policy (the name stays).
#[utoipa::path(put, path = "/api/v1/policies/{name}", tag = "alerting", request_body = PolicyConfig,
    params(("name" = String, Path)),
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_policy(
    State(st): State<AppState>,
    _: Writer,
    Path(name): Path<String>,
    ApiJson(config): ApiJson<PolicyConfig>,
) -> Result<Json<PolicyView>, AppError> {
    update_policy_config(&st, &name, config.clone()).await?;
    Ok(Json(PolicyView {
        config,
        source: "api",
    }))
}

/// Delete a policy no monitor uses.
#[utoipa::path(delete, path = "/api/v1/policies/{name}", tag = "alerting", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_policy(
    State(st): State<AppState>,
    _: Writer,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_policy_named(&st, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test notification through a channel now (not through the outbox).
#[utoipa::path(post, path = "/api/v1/channels/{name}/test", tag = "alerting", params(("name" = String, Path)),
    responses((status = 200, body = TestResult), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn test_channel(
    State(st): State<AppState>,
    _: Writer,
    Path(name): Path<String>,
) -> Result<Json<TestResult>, AppError> {
    Ok(Json(send_test(&st, &name).await?))
}

/// A channel's notifications, newest first, with every attempt and its error.
#[utoipa::path(get, path = "/api/v1/channels/{name}/deliveries", tag = "alerting", params(("name" = String, Path)),
    responses((status = 200, body = DeliveryList), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn deliveries(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<DeliveryList>, AppError> {
    caller.require(Scope::Read)?;
    Ok(Json(DeliveryList {
        deliveries: delivery_views(&st, &name).await?,
    }))
}
