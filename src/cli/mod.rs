//! The command line: `serve`, `migrate`, `demo`, `admin ...`. Each command is a thin layer over
//! `services::`, so the CLI obeys the same rules as the web pages and the API.
mod demo;

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{self, AppState};
use crate::config::Settings;
use crate::domain::Role;
use crate::federation::policy::{DomainPolicy, FederationMode};
use crate::services::accounts::{self, NewAccount};
use crate::services::moderation::{self, AccountStatus, Scope};
use crate::{store, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "palabre",
    version,
    about = "A federated public-consultation server"
)]
pub struct Cli {
    /// A configuration file layered over the defaults (see config/default.toml).
    #[arg(long, global = true, env = "PALABRE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node (applies pending migrations first).
    Serve {
        /// Load the demo data first (nothing happens if it is already there).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load demonstration data: a closed national consultation and an open local one.
    Demo,
    /// Administration tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account; the password is read from standard input.
    CreateUser {
        username: String,
        /// Read the password from standard input (required: passwords never go on the command
        /// line, where other users of the machine can see them).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the account an admin (organiser).
        #[arg(long)]
        admin: bool,
        /// Make the account a moderator.
        #[arg(long, conflicts_with = "admin")]
        moderator: bool,
        /// Mark the account verified with this label.
        #[arg(long, value_name = "LABEL")]
        verified: Option<String>,
        /// The name shown on pages (defaults to the username).
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
    },
    /// Mark an account verified with a label, e.g. "Compte vérifié".
    Verify { username: String, label: String },
    /// Block a server (HOST, or HOST:PORT): its activities are refused, what its accounts wrote
    /// is hidden and no longer counted, and nothing is fetched from or sent to it.
    BlockDomain {
        host: String,
        /// Why, for the other admins (kept in the policy and the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a server's block.
    UnblockDomain { host: String },
    /// List a partner server: in allow-list mode, the only servers this node federates with.
    AllowDomain {
        host: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Remove a server from the partner list.
    DisallowDomain { host: String },
    /// `open` (every server that is not blocked) or `allowlist` (partner servers only).
    FederationMode { mode: String },
    /// Block one remote account (its actor URL, or its handle name@host): its activities are
    /// refused and what it wrote is hidden.
    BlockAccount {
        account: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a remote account's block.
    UnblockAccount { account: String },
    /// Suspend an account of this node: it can no longer sign in nor use its tokens, and what
    /// it wrote is hidden.
    Suspend {
        username: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift an account's suspension.
    Unsuspend { username: String },
    /// Show the federation mode, the blocked and partner servers, and the suspended accounts.
    Policies,
    /// Show, per remote server, what was delivered, what is still retried and what was given
    /// up on after `federation.max_attempts`, with the last error.
    Deliveries,
    /// Show the debates of followed consultations still to be read from their nodes
    /// (backfills): retried, or given up on, with the last error.
    Backfills,
    /// Send again what a server missed after its deliveries were given up on (it is back).
    RetryDeliveries {
        /// The server, as `host` or `host:port`.
        server: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve { demo } => {
            let state = AppState::new(settings).await?;
            if demo {
                demo::load(&state).await?;
            }
            app::serve(state).await
        }
        Command::Migrate => {
            let db = store::connect(&settings.database).await?;
            store::migrate(&db).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Demo => {
            let state = AppState::new(settings).await?;
            demo::load(&state).await
        }
        Command::Admin(command) => admin(settings, command).await,
    }
}

async fn admin(settings: Settings, command: AdminCommand) -> anyhow::Result<()> {
    let state = AppState::new(settings).await?;
    match command {
        AdminCommand::CreateUser {
            username,
            password_stdin: _,
            admin,
            moderator,
            verified,
            display_name,
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let role = if admin {
                Role::Admin
            } else if moderator {
                Role::Moderator
            } else {
                Role::Member
            };
            let account = accounts::create_account(
                &state.db,
                NewAccount {
                    username: &username,
                    password,
                    display_name: display_name.as_deref(),
                    role,
                    verified_label: verified.as_deref(),
                },
            )
            .await?;
            println!("created {} account '{}'", account.role, account.username);
        }
        AdminCommand::BlockDomain { host, reason } => {
            let rule = moderation::set_domain_rule(
                &state,
                None,
                &host,
                DomainPolicy::Block,
                reason.as_deref(),
            )
            .await?;
            println!(
                "blocked {}: its activities are refused and what it wrote is hidden",
                rule.domain
            );
        }
        AdminCommand::UnblockDomain { host } => {
            let domain =
                moderation::remove_domain_rule(&state, None, &host, Some(DomainPolicy::Block))
                    .await?;
            println!("{domain} is no longer blocked");
        }
        AdminCommand::AllowDomain { host, reason } => {
            let rule = moderation::set_domain_rule(
                &state,
                None,
                &host,
                DomainPolicy::Allow,
                reason.as_deref(),
            )
            .await?;
            println!("{} is a partner server", rule.domain);
        }
        AdminCommand::DisallowDomain { host } => {
            let domain =
                moderation::remove_domain_rule(&state, None, &host, Some(DomainPolicy::Allow))
                    .await?;
            println!("{domain} is no longer a partner server");
        }
        AdminCommand::FederationMode { mode } => {
            let mode = moderation::set_mode(&state, None, FederationMode::parse(&mode)?).await?;
            let partners = moderation::partner_count(&state).await?;
            println!(
                "federation mode: {}",
                moderation::describe_mode(mode, partners)
            );
        }
        AdminCommand::BlockAccount { account, reason } => {
            let (status, changed) = moderation::set_suspended(
                &state,
                None,
                &account,
                Scope::Remote,
                true,
                reason.as_deref(),
            )
            .await?;
            let already = if changed { "" } else { " (it already was)" };
            println!("blocked the account {}{already}", describe(&status));
        }
        AdminCommand::UnblockAccount { account } => {
            let (status, changed) =
                moderation::set_suspended(&state, None, &account, Scope::Remote, false, None)
                    .await?;
            let already = if changed { "" } else { " (it was not blocked)" };
            println!(
                "the account {} is no longer blocked{already}",
                describe(&status)
            );
        }
        AdminCommand::Suspend { username, reason } => {
            let (status, changed) = moderation::set_suspended(
                &state,
                None,
                &username,
                Scope::Local,
                true,
                reason.as_deref(),
            )
            .await?;
            let already = if changed { "" } else { " (it already was)" };
            println!("suspended '{}'{already}", status.username);
        }
        AdminCommand::Unsuspend { username } => {
            let (status, changed) =
                moderation::set_suspended(&state, None, &username, Scope::Any, false, None).await?;
            let already = if changed {
                ""
            } else {
                " (it was not suspended)"
            };
            println!("'{}' is no longer suspended{already}", status.username);
        }
        AdminCommand::Policies => {
            let overview = moderation::overview(&state, None).await?;
            let partners = overview
                .domains
                .iter()
                .filter(|d| d.policy == DomainPolicy::Allow)
                .count();
            println!(
                "federation mode: {}",
                moderation::describe_mode(overview.mode, partners)
            );
            if overview.domains.is_empty() {
                println!("no blocked or partner servers");
            }
            for rule in &overview.domains {
                let what = match rule.policy {
                    DomainPolicy::Block => "blocked",
                    DomainPolicy::Allow => "partner",
                };
                println!(
                    "{what}\t{}\tsince {}{}",
                    rule.domain,
                    rule.created_at.format("%Y-%m-%d %H:%M UTC"),
                    rule.reason
                        .as_deref()
                        .map(|r| format!("\t{r}"))
                        .unwrap_or_default()
                );
            }
            if overview.suspended_accounts.is_empty() {
                println!("no suspended or blocked accounts");
            }
            for account in &overview.suspended_accounts {
                let what = if account.ap_id.is_some() {
                    "blocked account"
                } else {
                    "suspended account"
                };
                println!(
                    "{what}\t{}\tsince {}",
                    describe(account),
                    account
                        .suspended_at
                        .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default()
                );
            }
        }
        AdminCommand::Deliveries => {
            let peers = crate::services::deliveries::by_peer(&state, None).await?;
            if peers.is_empty() {
                println!("nothing was ever sent to another server");
            }
            println!("server\tdelivered\tpending\tfailed\tstate\tlast error");
            for peer in &peers {
                let state = match (peer.failed, peer.most_attempts, peer.next_attempt_at) {
                    (0, 0, _) => "ok".to_owned(),
                    (_, attempts, Some(next)) if attempts > 0 => format!(
                        "retrying ({attempts} tries, next {})",
                        next.format("%Y-%m-%d %H:%M:%S UTC")
                    ),
                    _ => "given up".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{state}\t{}",
                    peer.server,
                    peer.delivered,
                    peer.pending,
                    peer.failed,
                    peer.last_error.as_deref().unwrap_or("-")
                );
            }
        }
        AdminCommand::Backfills => {
            let owed = crate::services::backfills::owed(&state, None).await?;
            if owed.is_empty() {
                println!("no backfill owed: every followed consultation's debate was read");
            } else {
                println!("consultation\tstate\ttries\tlast error");
            }
            for backfill in &owed {
                let state = match backfill.next_attempt_at {
                    Some(next) => {
                        format!("retrying, next {}", next.format("%Y-%m-%d %H:%M:%S UTC"))
                    }
                    None => "given up".to_owned(),
                };
                println!(
                    "{}\t{state}\t{}\t{}",
                    backfill.consultation,
                    backfill.attempts,
                    backfill.last_error.as_deref().unwrap_or("-")
                );
            }
        }
        AdminCommand::RetryDeliveries { server } => {
            let queued = crate::services::deliveries::retry_failed(&state, None, &server).await?;
            println!("{queued} deliveries to {server} queued again");
        }
        AdminCommand::Verify { username, label } => {
            let account = accounts::set_verified(&state.db, None, &username, Some(&label)).await?;
            println!(
                "'{}' is now verified: {}",
                account.username,
                account.verified_label.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `name@host (https://host/users/name)` for a remote account, its username for a local one.
fn describe(account: &AccountStatus) -> String {
    match &account.ap_id {
        Some(id) => format!("{} ({id})", account.username),
        None => account.username.clone(),
    }
}
