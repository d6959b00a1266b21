//! Notification channels and alert policies: validating, storing (config-file ones are
//! read-only), sending a test, and the views of channels, policies and deliveries.
//! Secrets (webhook URLs, routing keys, signing secrets) are never shown; sending the
//! mask back keeps the stored value.

use crate::AppState;
use crate::error::AppError;
use serde::Serialize;
use vigilmon_core::alert::PolicyConfig;
use vigilmon_notify::ChannelConfig;
use vigilmon_store::{MonitorSource, NamedConfig};

/// A channel as shown: its settings with secrets masked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    #[serde(flatten)]
    pub config: ChannelConfig,
    pub source: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelList {
    pub channels: Vec<ChannelView>,
}

/// A policy as shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    #[serde(flatten)]
    pub config: PolicyConfig,
    pub source: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyList {
    pub policies: Vec<PolicyView>,
}

/// Masks a channel's secrets (for every reader).
pub fn redact_channel(c: ChannelConfig) -> ChannelConfig {
    vigilmon_core::secret::masked(&c)
}

pub fn decode<T: serde::de::DeserializeOwned>(n: &NamedConfig) -> Result<T, AppError> {
    serde_json::from_value(n.config.clone()).map_err(|e| {
        AppError::Internal(format!("stored config of {:?} is unreadable: {e}", n.name))
    })
}

pub fn channel_view(n: &NamedConfig) -> Result<ChannelView, AppError> {
    Ok(ChannelView {
        config: redact_channel(decode(n)?),
        source: n.source.as_str(),
        created_at: n.created_at,
        updated_at: n.updated_at,
    })
}

pub async fn find(st: &AppState, table: &str, name: &str) -> Result<NamedConfig, AppError> {
    let all = if table == "channels" {
        st.store().list_channels().await?
    } else {
        st.store().list_policies().await?
    };
    all.into_iter().find(|n| n.name == name).ok_or_else(|| {
        let what = if table == "channels" {
            "channel"
        } else {
            "policy"
        };
        AppError::NotFound(format!("no {what} named {name:?}"))
    })
}

fn refuse_file_managed(n: &NamedConfig) -> Result<(), AppError> {
    if n.source == MonitorSource::File {
        return Err(AppError::Conflict {
            code: "managed_by_config",
            message: format!(
                "{:?} is declared in the config file; change it there",
                n.name
            ),
            field: None,
        });
    }
    Ok(())
}

/// Every channel, secrets masked.
pub async fn list_channel_views(st: &AppState) -> Result<Vec<ChannelView>, AppError> {
    st.store()
        .list_channels()
        .await?
        .iter()
        .map(channel_view)
        .collect()
}

/// Validates and stores a new channel (its name must be free).
pub async fn create_channel_config(st: &AppState, config: ChannelConfig) -> Result<(), AppError> {
    config.build().map_err(AppError::Invalid)?;
    if st
        .store()
        .list_channels()
        .await?
        .iter()
        .any(|c| c.name == config.name.trim())
    {
        return Err(AppError::Conflict {
            code: "conflict",
            message: format!("a channel named {:?} already exists", config.name),
            field: Some("name".into()),
        });
    }
    save_channel(st, config).await
}

async fn save_channel(st: &AppState, mut config: ChannelConfig) -> Result<(), AppError> {
    config.name = config.name.trim().to_owned();
    let value = serde_json::to_value(&config).map_err(|e| AppError::Internal(e.to_string()))?;
    st.store()
        .upsert_channel(
            &config.name,
            config.kind_name(),
            &value,
            MonitorSource::Api,
            st.now(),
        )
        .await?;
    st.alerting().config_changed().await;
    Ok(())
}

/// Replaces a channel's settings (not one from the config file; the name stays).
/// Secrets sent as the mask keep their stored values; the alerting driver
/// reloads.
pub async fn update_channel_config(
    st: &AppState,
    name: &str,
    mut config: ChannelConfig,
) -> Result<(), AppError> {
    let existing = find(st, "channels", name).await?;
    refuse_file_managed(&existing)?;
    let old: ChannelConfig = decode(&existing)?;
    if config.name.trim() != name {
        return Err(AppError::bad_request(
            "name: a channel cannot be renamed",
            Some("name".into()),
        ));
    }
    let kept = if config.kind_name() == old.kind_name() {
        vigilmon_core::secret::restore(&mut config, &old)
    } else {
        Ok(())
    };
    let built = config.build().map(|_| ());
    vigilmon_core::validation::merge_problems(built, kept).map_err(AppError::Invalid)?;
    save_channel(st, config).await
}

/// The stored settings of a channel, secrets included (for code that must keep them).
pub async fn stored_channel(st: &AppState, name: &str) -> Result<(ChannelConfig, bool), AppError> {
    let n = find(st, "channels", name).await?;
    Ok((decode(&n)?, n.source == MonitorSource::File))
}

/// Deletes a channel that no policy uses (not one from the config file).
pub async fn delete_channel_named(st: &AppState, name: &str) -> Result<(), AppError> {
    let name = name.to_owned();
    let existing = find(st, "channels", &name).await?;
    refuse_file_managed(&existing)?;
    for p in st.store().list_policies().await? {
        let policy: PolicyConfig = decode(&p)?;
        if policy.channels.contains(&name)
            || policy.escalate.iter().any(|e| e.channels.contains(&name))
        {
            return Err(AppError::Conflict {
                code: "in_use",
                message: format!("policy {:?} uses channel {name:?}", p.name),
                field: None,
            });
        }
    }
    st.store().delete_channel(&name).await?;
    st.alerting().config_changed().await;
    Ok(())
}

/// Every policy.
pub async fn list_policy_views(st: &AppState) -> Result<Vec<PolicyView>, AppError> {
    st.store()
        .list_policies()
        .await?
        .iter()
        .map(|n| {
            Ok(PolicyView {
                config: decode(n)?,
                source: n.source.as_str(),
            })
        })
        .collect()
}

async fn validate_policy(st: &AppState, config: &PolicyConfig) -> Result<(), AppError> {
    let names: Vec<String> = st
        .store()
        .list_channels()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    config
        .build(|c| names.iter().any(|n| n == c))
        .map(|_| ())
        .map_err(AppError::Invalid)
}

/// Validates and stores a new policy (its name must be free, its channels exist).
pub async fn create_policy_config(st: &AppState, config: PolicyConfig) -> Result<(), AppError> {
    validate_policy(st, &config).await?;
    if st
        .store()
        .list_policies()
        .await?
        .iter()
        .any(|c| c.name == config.name.trim())
    {
        return Err(AppError::Conflict {
            code: "conflict",
            message: format!("a policy named {:?} already exists", config.name),
            field: Some("name".into()),
        });
    }
    save_policy(st, config).await
}

async fn save_policy(st: &AppState, mut config: PolicyConfig) -> Result<(), AppError> {
    config.name = config.name.trim().to_owned();
    let value = serde_json::to_value(&config).map_err(|e| AppError::Internal(e.to_string()))?;
    st.store()
        .upsert_policy(&config.name, &value, MonitorSource::Api, st.now())
        .await?;
    st.alerting().config_changed().await;
    Ok(())
}

/// Replaces a policy (not one from the config file; the name stays) after the same
/// validation as a new one; the alerting driver reloads.
pub async fn update_policy_config(
    st: &AppState,
    name: &str,
    config: PolicyConfig,
) -> Result<(), AppError> {
    refuse_file_managed(&find(st, "policies", name).await?)?;
    if config.name.trim() != name {
        return Err(AppError::bad_request(
            "name: a policy cannot be renamed",
            Some("name".into()),
        ));
    }
    validate_policy(st, &config).await?;
    save_policy(st, config).await
}

/// Deletes a policy that no monitor uses (not one from the config file).
pub async fn delete_policy_named(st: &AppState, name: &str) -> Result<(), AppError> {
    let name = name.to_owned();
    refuse_file_managed(&find(st, "policies", &name).await?)?;
    if let Some(m) = st
        .store()
        .list_monitors()
        .await?
        .into_iter()
        .find(|m| m.config.policy.as_deref() == Some(name.as_str()))
    {
        return Err(AppError::Conflict {
            code: "in_use",
            message: format!("monitor {:?} uses policy {name:?}", m.config.name),
            field: None,
        });
    }
    st.store().delete_policy(&name).await?;
    st.alerting().config_changed().await;
    Ok(())
}

/// The result of a test notification.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestResult {
    pub delivered: bool,
    /// `delivered`, `retry` (a transient failure) or `failed`.
    pub outcome: &'static str,
    pub error: Option<String>,
}

/// Sends a test notification through a channel now (not through the outbox).
pub async fn send_test(st: &AppState, name: &str) -> Result<TestResult, AppError> {
    let n = find(st, "channels", name).await?;
    let config: ChannelConfig = decode(&n)?;
    let spec = config.build().map_err(AppError::Invalid)?;
    let now = st.now();
    let note = vigilmon_notify::Notification {
        event: vigilmon_notify::Event::Test,
        dedup_key: format!("vigilmon-test-{}", uuid::Uuid::now_v7()),
        incident_id: None,
        monitor_id: None,
        monitor_name: "Vigilmon test notification".into(),
        monitor_kind: "test".into(),
        state: "up".into(),
        priority: vigilmon_core::alert::Priority::P4,
        cause: format!("a test of channel {name:?}: if you can read this, it works"),
        regions: Vec::new(),
        opened_at: None,
        at: now,
        duration: None,
        acknowledged_by: None,
        links: vigilmon_notify::Links::default(),
    };
    let r = match st.notifier().deliver(&spec, &note).await {
        vigilmon_notify::Delivery::Delivered { .. } => TestResult {
            delivered: true,
            outcome: "delivered",
            error: None,
        },
        vigilmon_notify::Delivery::Retry { error, .. } => TestResult {
            delivered: false,
            outcome: "retry",
            error: Some(error),
        },
        vigilmon_notify::Delivery::Permanent { error } => TestResult {
            delivered: false,
            outcome: "failed",
            error: Some(error),
        },
    };
    Ok(r)
}

/// One notification and its attempts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub key: String,
    pub incident_id: Option<uuid::Uuid>,
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<jiff::Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub next_attempt_at: jiff::Timestamp,
    pub last_error: Option<String>,
    pub attempt_log: Vec<AttemptView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    pub outcome: String,
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

/// A channel's latest 100 notifications, newest first, with every attempt.
pub async fn delivery_views(st: &AppState, name: &str) -> Result<Vec<DeliveryView>, AppError> {
    find(st, "channels", name).await?;
    let rows = st.store().list_outbox(Some(name), None, 100).await?;
    let mut deliveries = Vec::with_capacity(rows.len());
    for r in rows {
        let attempt_log = st
            .store()
            .delivery_attempts(r.id)
            .await?
            .into_iter()
            .map(|a| AttemptView {
                at: a.at,
                outcome: a.outcome,
                error: a.error,
                duration_ms: a.duration_ms,
            })
            .collect();
        deliveries.push(DeliveryView {
            key: r.key,
            incident_id: r.incident_id,
            event: r.event,
            status: r.status,
            attempts: r.attempts,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            attempt_log,
        });
    }
    Ok(deliveries)
}
