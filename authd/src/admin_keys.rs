//! `authd keys rotate`: replacing the signing key without any replica ever rejecting a token
//! another replica signed. One replica: `rotate` (new key now, the old one stays published until
//! its tokens expire). Several replicas, in two phases: `rotate --prepare` adds
//! `JWT_NEXT_PRIVATE_KEY` (published and accepted, not yet signing) and, once every replica runs
//! with it, `rotate --commit` makes it `JWT_PRIVATE_KEY` and publishes the retiring key until its
//! last tokens expire. Both edit the env file, or print the lines to set when it cannot be edited
//! (a read-only `.env`, a container's environment).

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::clock;
use crate::state::App;
use crate::store::published;
use crate::token::keys::{KeyRing, env_value, generate_pem};

const CURRENT: &str = "JWT_PRIVATE_KEY";
const NEXT: &str = "JWT_NEXT_PRIVATE_KEY";

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Replace the signing key. Without a flag: at once (one replica). With several replicas:
    /// `--prepare`, restart every replica, `--commit`, restart every replica.
    Rotate {
        #[arg(long, default_value = ".env")]
        env_file: String,
        /// Phase 1: write a new JWT_NEXT_PRIVATE_KEY (published and accepted, not yet signing).
        #[arg(long, conflicts_with = "commit")]
        prepare: bool,
        /// Phase 2: JWT_NEXT_PRIVATE_KEY becomes JWT_PRIVATE_KEY; the old key stays published
        /// until its tokens expire.
        #[arg(long)]
        commit: bool,
    },
}

pub async fn run(app: &App, cmd: KeysCommand) -> Result<(), String> {
    let KeysCommand::Rotate {
        env_file,
        prepare,
        commit,
    } = cmd;
    let prepared = app.config.jwt_next_private_key.as_ref();
    let until = published::until(clock::now(), app.config.limits.access_ttl);
    let ttl = until - clock::now();
    match (prepare, commit, prepared) {
        (false, false, Some(_)) => Err(format!(
            "{NEXT} is set: a two-phase rotation is under way; finish it with `authd keys rotate --commit`"
        )),
        (true, _, Some(_)) => Err(format!(
            "{NEXT} is already set: restart every replica with it, then run `authd keys rotate --commit`"
        )),
        (_, true, None) => Err(format!(
            "{NEXT} is not set: run `authd keys rotate --prepare` and restart every replica first"
        )),
        (false, false, None) => {
            retire(app, until).await?;
            let value = env_value(&generate_pem().map_err(|e| e.to_string())?);
            edit_env(
                &env_file,
                &[(CURRENT, Some(&value))],
                &format!(
                    "new signing key; the previous key {} stays published for {ttl} s; restart authd",
                    app.keys.kid()
                ),
            );
            Ok(())
        }
        (true, false, None) => {
            let pem = generate_pem().map_err(|e| e.to_string())?;
            let next = KeyRing::from_pem(&pem).map_err(|e| e.to_string())?;
            // Published at once as well: a replica still without it learns it within
            // `published::REFRESH_SECS`, before anyone signs with it.
            published::publish(&app.store, &[next.current_jwk()], until)
                .await
                .map_err(|e| e.to_string())?;
            let value = env_value(&pem);
            edit_env(
                &env_file,
                &[(NEXT, Some(&value))],
                &format!(
                    "prepared key {}; restart every replica with it, then run `authd keys rotate --commit`",
                    next.kid()
                ),
            );
            Ok(())
        }
        (_, true, Some(next)) => {
            retire(app, until).await?;
            let value = env_value(next.expose_secret());
            edit_env(
                &env_file,
                &[(CURRENT, Some(&value)), (NEXT, None)],
                &format!(
                    "the prepared key signs from now on; the previous key {} stays published for {ttl} s; restart every replica",
                    app.keys.kid()
                ),
            );
            Ok(())
        }
    }
}

/// Publishes the key being replaced until the last token it may still sign expires.
async fn retire(app: &App, until: u64) -> Result<(), String> {
    published::publish(&app.store, &[app.keys.current_jwk()], until)
        .await
        .map_err(|e| e.to_string())
}

/// Sets (`Some`) or removes (`None`) variables in the env file, keeping every other line; when
/// the file cannot be edited, prints the lines to set by hand.
fn edit_env(path: &str, changes: &[(&str, Option<&str>)], done: &str) {
    let edited =
        std::fs::read_to_string(path).and_then(|text| std::fs::write(path, apply(&text, changes)));
    match edited {
        Ok(()) => eprintln!("authd: {path} updated: {done}"),
        Err(e) => {
            eprintln!(
                "authd: cannot edit {path} ({e}); set these in the environment of every \
                 replica (an empty value unsets): {done}"
            );
            for (name, value) in changes {
                println!("{name}={}", value.unwrap_or_default());
            }
        }
    }
}

/// The env file text with `changes` applied: a line `NAME=...` replaced or dropped, a variable
/// not yet there appended.
fn apply(text: &str, changes: &[(&str, Option<&str>)]) -> String {
    let mut seen = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let change = changes
            .iter()
            .find(|(name, _)| line.strip_prefix(name).is_some_and(|r| r.starts_with('=')));
        match change {
            Some((name, value)) => {
                seen.push(*name);
                if let Some(v) = value {
                    out.push(format!("{name}={v}"));
                }
            }
            None => out.push(line.to_owned()),
        }
    }
    for (name, value) in changes {
        if let (false, Some(v)) = (seen.contains(name), value) {
            out.push(format!("{name}={v}"));
        }
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn env_edits_keep_every_other_line() {
        let text =
            "A=1\nJWT_PRIVATE_KEY=old\n# JWT_NEXT_PRIVATE_KEY=comment\nJWT_NEXT_PRIVATE_KEY=n\n";
        let out = apply(text, &[(CURRENT, Some("n")), (NEXT, None)]);
        assert_eq!(
            out,
            "A=1\nJWT_PRIVATE_KEY=n\n# JWT_NEXT_PRIVATE_KEY=comment\n"
        );
        let out = apply("A=1", &[(NEXT, Some("x"))]);
        assert_eq!(out, "A=1\nJWT_NEXT_PRIVATE_KEY=x\n");
        // JWT_PRIVATE_KEY= is not a prefix match for JWT_PRIVATE_KEY_FILE=.
        let out = apply("JWT_PRIVATE_KEY_FILE=/run/k\n", &[(CURRENT, Some("v"))]);
        assert_eq!(out, "JWT_PRIVATE_KEY_FILE=/run/k\nJWT_PRIVATE_KEY=v\n");
    }
}
