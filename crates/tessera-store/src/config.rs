//! The configuration in memory: applications and their secrets, scopes and the scope
//! catalogue, claim types, API connections and their secrets, custom claims scripts and
//! their variables, claim mappings. The token, introspection and authorize paths read it
//! from here, not from the database (docs/architecture.md: one in-memory snapshot per
//! node, so a token request reads no configuration from the database).
//!
//! Freshness, across any number of nodes:
//! - Triggers on every configuration table move `config_version` in the same
//!   transaction as the change, whoever makes it (another node, the CLI).
//! - A node checks that number at most every `refresh_interval` and reloads the whole
//!   snapshot when it moved, so another node's change is seen within that interval.
//! - A change this process commits through [`Store::write_transaction`] or
//!   [`Store::write_statement`] is seen by its next read at once: the store functions
//!   that change configuration mark the transaction ([`crate::config_changes`]), and the
//!   commit invalidates the snapshot.
//!
//! [`Store::write_transaction`]: crate::Store::write_transaction
//! [`Store::write_statement`]: crate::Store::write_statement

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use tessera_domain::{ApplicationId, ClientId, ConnectionId, Requirement, ScopeCatalog, TokenSubject};

use crate::applications::{self, Application, ApplicationSecret};
use crate::connections::{self, ApiConnection, ConnectionSecret};
use crate::mappings::{self, ClaimMapping};
use crate::schema::config_version;
use crate::scopes::{self, ClaimType, Scope, ScopeKind};
use crate::scripts::{self, CustomClaimScript, EnvironmentVariable, ScriptKind};
use crate::{AnyConnection, StoreError, StoreResult};

/// One consistent copy of the configuration, as of `version`.
#[derive(Debug, Default)]
pub struct Config {
    /// The `config_version` this copy was loaded at.
    pub version: i64,
    applications: Vec<Arc<Application>>,
    by_client_id: HashMap<ClientId, usize>,
    by_application_id: HashMap<ApplicationId, usize>,
    application_secrets: HashMap<ApplicationId, Vec<ApplicationSecret>>,
    connections: Vec<ApiConnection>,
    connection_by_name: HashMap<String, usize>,
    connection_secrets: HashMap<ConnectionId, Vec<ConnectionSecret>>,
    scopes: Vec<Scope>,
    catalog: ScopeCatalog,
    /// Each API scope's requirement: its own, else its connection's.
    requirements: HashMap<String, Requirement>,
    claim_types: Vec<ClaimType>,
    scripts: Vec<CustomClaimScript>,
    variables: Vec<EnvironmentVariable>,
    mappings: Vec<ClaimMapping>,
}

impl Config {
    /// Reads the whole configuration. Call inside one read transaction; the version is
    /// read first, so the data is at least as new as the version it is labelled with.
    pub fn load(conn: &mut AnyConnection, now: i64) -> StoreResult<Config> {
        let version = current_version(conn)?;
        let applications: Vec<Arc<Application>> = applications::all(conn)?.into_iter().map(Arc::new).collect();
        let mut application_secrets: HashMap<ApplicationId, Vec<ApplicationSecret>> = HashMap::new();
        for secret in applications::all_live_secrets(conn, now)? {
            application_secrets.entry(secret.application_id.clone()).or_default().push(secret);
        }
        let connections = connections::all(conn)?;
        let mut connection_secrets: HashMap<ConnectionId, Vec<ConnectionSecret>> = HashMap::new();
        for secret in connections::all_live_secrets(conn, now)? {
            connection_secrets.entry(secret.connection_id.clone()).or_default().push(secret);
        }
        let scopes = scopes::list_scopes(conn, None)?;
        let catalog = catalog_of(&scopes)?;
        let requirements = requirements_of(&scopes, &connections);
        Ok(Config {
            version,
            by_client_id: applications.iter().enumerate().map(|(i, a)| (a.client_id.clone(), i)).collect(),
            by_application_id: applications.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect(),
            applications,
            application_secrets,
            connection_by_name: connections.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect(),
            connections,
            connection_secrets,
            scopes,
            catalog,
            requirements,
            claim_types: scopes::list_claim_types(conn)?,
            scripts: scripts::all(conn)?,
            variables: scripts::list_variables(conn)?,
            mappings: mappings::all(conn)?,
        })
    }

    pub fn application_by_client_id(&self, client_id: &str) -> Option<&Arc<Application>> {
        self.by_client_id.get(client_id).map(|&i| &self.applications[i])
    }

    pub fn application(&self, id: &ApplicationId) -> Option<&Arc<Application>> {
        self.by_application_id.get(id).map(|&i| &self.applications[i])
    }

    /// The application's secrets still valid at `now`.
    pub fn live_application_secrets(&self, application_id: &ApplicationId, now: i64) -> Vec<&ApplicationSecret> {
        live(self.application_secrets.get(application_id), now, |s| s.expires_at)
    }

    /// Every API connection, by name.
    pub fn connections(&self) -> &[ApiConnection] {
        &self.connections
    }

    pub fn connection_by_name(&self, name: &str) -> Option<&ApiConnection> {
        self.connection_by_name.get(name).map(|&i| &self.connections[i])
    }

    /// RFC 8707 §2: a `resource` value as the connection name it designates: the name of
    /// the connection whose resource URI it is, or the value itself (a connection's name,
    /// or something that names no connection and is refused where it is used).
    pub fn resource_name<'a>(&'a self, resource: &'a str) -> &'a str {
        self.connections
            .iter()
            .find(|c| c.resource_uri.as_deref() == Some(resource))
            .map_or(resource, |c| c.name.as_str())
    }

    /// The connection's secrets still valid at `now`.
    pub fn live_connection_secrets(&self, connection_id: &ConnectionId, now: i64) -> Vec<&ConnectionSecret> {
        live(self.connection_secrets.get(connection_id), now, |s| s.expires_at)
    }

    /// The API scopes of a connection.
    pub fn scopes_of_connection(&self, connection_id: &ConnectionId) -> impl Iterator<Item = &Scope> {
        self.scopes.iter().filter(move |s| s.connection.as_ref().is_some_and(|(id, _)| id == connection_id))
    }

    /// Every scope, by name, with its claims or connection.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// Every identity scope with its claims and every API scope with its connection.
    pub fn catalog(&self) -> &ScopeCatalog {
        &self.catalog
    }

    /// What a token carrying API scope `scope` needs (docs/authentication.md, "Assurance
    /// per API scope"): the scope's own requirement, else its connection's; `None` for
    /// an identity scope or an API scope without either.
    pub fn scope_requirement(&self, scope: &str) -> Option<Requirement> {
        self.requirements.get(scope).copied()
    }

    pub fn claim_types(&self) -> &[ClaimType] {
        &self.claim_types
    }

    /// The script of `kind` when it is enabled and has a body.
    pub fn enabled_script(&self, kind: ScriptKind) -> Option<&CustomClaimScript> {
        self.scripts.iter().find(|s| s.kind == kind && s.enabled && !s.source.trim().is_empty())
    }

    /// The claim rules that apply to `subject`'s tokens for `application_id`: the global
    /// ones, each replaced by the application's own rule for the same claim, and the
    /// application's others; in creation order.
    pub fn rules_for(&self, subject: TokenSubject, application_id: &ApplicationId) -> Vec<&ClaimMapping> {
        let own = |m: &&ClaimMapping| m.application_id.as_ref() == Some(application_id);
        let mut rules: Vec<&ClaimMapping> = self
            .mappings
            .iter()
            .filter(|m| m.rule.subject == subject && m.application_id.is_none())
            .filter(|global| {
                !self
                    .mappings
                    .iter()
                    .filter(own)
                    .any(|m| m.rule.subject == subject && m.rule.claim == global.rule.claim)
            })
            .collect();
        rules.extend(self.mappings.iter().filter(own).filter(|m| m.rule.subject == subject));
        rules
    }

    /// Every claim mapping.
    pub fn mappings(&self) -> &[ClaimMapping] {
        &self.mappings
    }

    /// The scripts' environment variables (values as stored: encrypted).
    pub fn variables(&self) -> &[EnvironmentVariable] {
        &self.variables
    }
}

fn live<T>(secrets: Option<&Vec<T>>, now: i64, expires_at: impl Fn(&T) -> Option<i64>) -> Vec<&T> {
    secrets.map(|all| all.iter().filter(|s| expires_at(s).is_none_or(|at| at > now)).collect()).unwrap_or_default()
}

/// The scope catalogue of `scopes`. (`offline_access` is stored as a standard identity
/// scope for display; the domain knows it by name and grants it by the refresh-token
/// rules.)
fn catalog_of(scopes: &[Scope]) -> StoreResult<ScopeCatalog> {
    let mut catalog = ScopeCatalog::new();
    for scope in scopes {
        if scope.name == tessera_domain::OFFLINE_ACCESS {
            continue;
        }
        let added = match (scope.kind, &scope.connection) {
            (ScopeKind::Identity, _) => catalog.add_identity_scope(&scope.name, scope.claims.iter()),
            (ScopeKind::Api, Some((_, connection))) => catalog.add_api_scope(&scope.name, connection),
            (ScopeKind::Api, None) => continue,
        };
        added.map_err(|e| StoreError::Corrupt(format!("scope catalogue: {e}")))?;
    }
    Ok(catalog)
}

/// Each API scope's effective requirement: its own, else its connection's.
fn requirements_of(scopes: &[Scope], connections: &[ApiConnection]) -> HashMap<String, Requirement> {
    scopes
        .iter()
        .filter_map(|scope| {
            let (connection_id, _) = scope.connection.as_ref()?;
            let inherited = || connections.iter().find(|c| &c.id == connection_id).and_then(|c| c.requirement);
            scope.requirement.or_else(inherited).map(|r| (scope.name.clone(), r))
        })
        .collect()
}

/// The current time in unix seconds (to tell live secrets when loading).
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The configuration's version in the database.
pub fn current_version(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(config_version::table.find(1).select(config_version::version).first(conn)?)
}

/// The snapshot a store shares between its clones, and when to look for a newer one.
pub(crate) struct ConfigCache {
    current: RwLock<Option<Arc<Config>>>,
    /// Moved by every configuration change committed in this process.
    local_generation: AtomicU64,
    /// `local_generation` when `current` was loaded.
    loaded_generation: AtomicU64,
    /// Milliseconds since `epoch` when the database's version was last compared.
    checked_at: AtomicU64,
    epoch: Instant,
    refresh_interval: RwLock<Duration>,
    /// Held by the one caller that reloads or checks; the others use what is there.
    reloading: Mutex<()>,
}

impl ConfigCache {
    pub(crate) fn new(refresh_interval: Duration) -> ConfigCache {
        ConfigCache {
            current: RwLock::new(None),
            local_generation: AtomicU64::new(1),
            loaded_generation: AtomicU64::new(0),
            checked_at: AtomicU64::new(0),
            epoch: Instant::now(),
            refresh_interval: RwLock::new(refresh_interval),
            reloading: Mutex::new(()),
        }
    }

    pub(crate) fn set_refresh_interval(&self, interval: Duration) {
        if let Ok(mut current) = self.refresh_interval.write() {
            *current = interval;
        }
    }

    pub(crate) fn invalidate(&self) {
        self.local_generation.fetch_add(1, Ordering::AcqRel);
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn interval_millis(&self) -> u64 {
        self.refresh_interval.read().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
    }

    fn snapshot(&self) -> Option<Arc<Config>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// The snapshot, if it needs neither reloading nor a look at the database.
    pub(crate) fn current(&self) -> Option<Arc<Config>> {
        let fresh_locally =
            self.loaded_generation.load(Ordering::Acquire) == self.local_generation.load(Ordering::Acquire);
        let due = self.millis().saturating_sub(self.checked_at.load(Ordering::Acquire)) >= self.interval_millis();
        if fresh_locally && !due { self.snapshot() } else { None }
    }

    /// The current snapshot: loaded again when this process changed configuration since,
    /// or when the interval has passed and the database's version moved.
    pub(crate) fn get(
        &self,
        load: impl Fn() -> StoreResult<Config>,
        version: impl Fn() -> StoreResult<i64>,
    ) -> StoreResult<Arc<Config>> {
        let generation = self.local_generation.load(Ordering::Acquire);
        let fresh_locally = self.loaded_generation.load(Ordering::Acquire) == generation;
        let due = self.millis().saturating_sub(self.checked_at.load(Ordering::Acquire)) >= self.interval_millis();
        if let Some(current) = self.snapshot()
            && fresh_locally
            && !due
        {
            return Ok(current);
        }
        if fresh_locally && let Some(current) = self.snapshot() {
            // Only the database may have moved: one caller looks, the others go on with
            // what they have.
            let Ok(_guard) = self.reloading.try_lock() else { return Ok(current) };
            if self.millis().saturating_sub(self.checked_at.load(Ordering::Acquire)) < self.interval_millis() {
                return Ok(self.snapshot().unwrap_or(current));
            }
            let checked_at = self.millis();
            if version()? == current.version {
                self.checked_at.store(checked_at, Ordering::Release);
                return Ok(current);
            }
            return self.reload(&load, generation, checked_at);
        }
        // A change of this process (or the first use): every caller waits for the new copy.
        let _guard = self.reloading.lock().map_err(|_| StoreError::Unavailable("configuration lock".into()))?;
        let generation = self.local_generation.load(Ordering::Acquire);
        if self.loaded_generation.load(Ordering::Acquire) == generation
            && let Some(current) = self.snapshot()
        {
            return Ok(current);
        }
        let checked_at = self.millis();
        self.reload(&load, generation, checked_at)
    }

    fn reload(
        &self,
        load: &impl Fn() -> StoreResult<Config>,
        generation: u64,
        checked_at: u64,
    ) -> StoreResult<Arc<Config>> {
        let config = Arc::new(load()?);
        if let Ok(mut current) = self.current.write() {
            *current = Some(config.clone());
        }
        self.loaded_generation.store(generation, Ordering::Release);
        self.checked_at.store(checked_at, Ordering::Release);
        Ok(config)
    }
}
