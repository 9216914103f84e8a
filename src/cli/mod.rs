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
use crate::services::accounts::{self, NewAccount};
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
