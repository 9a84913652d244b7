//! Starting and stopping: migrations or the contract check, the listener, the background
//! tasks, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use aiblox_kb::{KbPool, Migrator};
use axum::Router;
use tokio::net::TcpListener;

use super::app;
use super::state::AppState;
use crate::config::Settings;
use crate::service::access::Caller;

/// A service bound to its listener, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    pool: KbPool,
    /// The dense leg's background tasks, stopped with the service.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Migrates (or, with migrations off, checks the contract), then binds the listener
    /// (port 0 picks a free one).
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        tracing::info!(
            schema = settings.database.schema(),
            database = %settings.database.redacted_url(),
            "knowledge base"
        );
        if settings.migrate_on_start {
            let report = aiblox_kb::migrate(&settings.database).await?;
            tracing::info!(schema = %report.schema, applied = ?report.applied, "migrations done");
        } else {
            Migrator::new(&settings.database).check().await?;
        }
        let state = Arc::new(AppState::new(settings)?);
        tracing::info!(retrieval = %settings.retrieval_modes(), "retrieval");
        tracing::info!(access = %settings.access_mode(), keys = state.access.as_ref().map(|access| access.len()), "access");
        if settings.pool.open_at_start > 0 {
            match state.pool.warm_up(settings.pool.open_at_start).await {
                Ok(open) => tracing::info!(open, "database connections opened"),
                Err(err) => {
                    tracing::warn!(error = %err, "opening connections at start failed; requests open them")
                }
            }
        }
        let mut background = state.start_indexing();
        background.extend(state.reload_keys_on_hangup());
        background.push(state.check_readiness_in_background());
        background.push(state.merge_postings_in_background());
        let pool = state.pool.clone();
        let router = app(state, settings.limits.max_body_bytes);
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", settings.listen))?;
        Ok(Application {
            listener,
            router,
            pool,
            background,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests
    /// finish, and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "listening");
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        for task in &self.background {
            task.abort();
        }
        self.pool.close();
        tracing::info!("stopped");
        served
    }
}

/// `aiblox-orchestrator mcp`: the MCP server over stdio, with the service's settings, for a
/// desktop client that starts it. It checks the knowledge base's contract and never migrates
/// it (a desktop's binary must not change a shared database: `migrate` or `serve` do). With
/// keys in force it answers as the key `key_name` (its sources, filter and rate); without
/// keys, as the anonymous local user. Background work (embedding, postings merges) runs as in
/// `serve`; logs go to stderr.
pub async fn serve_mcp_stdio(settings: &Settings, key_name: Option<&str>) -> anyhow::Result<()> {
    Migrator::new(&settings.database).check().await?;
    let state = Arc::new(AppState::new(settings)?);
    let caller = match (&state.access, key_name) {
        (Some(access), Some(name)) => Some(access.caller_named(name).ok_or_else(|| {
            anyhow::anyhow!(
                "no key named {name:?} in the keys file: name one of its [[key]] entries"
            )
        })?),
        (Some(_), None) => anyhow::bail!(
            "this service has API keys: name the one this MCP server speaks for with --key-name"
        ),
        (None, Some(name)) => anyhow::bail!(
            "--key-name {name:?} but the service has no keys file (AIBLOX_API_KEYS_FILE)"
        ),
        (None, None) => Some(Caller::local_user()),
    };
    let mut background = state.start_indexing();
    background.push(state.merge_postings_in_background());
    tracing::info!(key = key_name, "MCP server on stdio");
    let served = super::mcp::serve_stdio(state.clone(), caller).await;
    for task in &background {
        task.abort();
    }
    state.pool.close();
    Ok(served?)
}

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called,
/// not when the future is first polled: a signal sent as soon as the service answers finds
/// them in place instead of killing the process mid-request.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |handler: std::io::Result<tokio::signal::unix::Signal>| async move {
            match handler {
                Ok(mut handler) => {
                    handler.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(terminate) => {},
        }
        tracing::info!("shutdown requested: finishing in-flight requests");
    }
}
