//! One soak client: a loop of checked `tools/call` requests of one kind until the end of the run,
//! recovering the way the MCP spec tells clients to (basic/transports "Session Management": a 404
//! means the session is gone and a new one starts with `initialize`; "Resumability and
//! Redelivery": a broken stream is resumed with `Last-Event-ID`). Other defined errors (a refused
//! connection, 502/503 while a service restarts) are retried after a growing pause.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use tokio::task::JoinHandle;

use super::stream::{self, Watched};
use super::tally::Tally;
use crate::error::Error;
use crate::session::{ACCEPT_BOTH, Framing, Session, Target};
use crate::workload;

/// The kinds of client a soak run mixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Legacy session, answers as `application/json`.
    Json,
    /// Legacy session, answers as `text/event-stream`; a cut stream is resumed.
    Sse,
    /// Legacy session holding its standalone GET stream open, re-opened with `Last-Event-ID`.
    Listen,
    /// Legacy session whose every answer stream is dropped after its priming event and resumed.
    Resume,
    /// MCP 2026-07-28 stateless requests.
    Stateless,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Json => "json",
            Kind::Sse => "sse",
            Kind::Listen => "listen",
            Kind::Resume => "resume",
            Kind::Stateless => "stateless",
        }
    }
}

const ACCEPT_JSON: &str = "application/json";
const ACCEPT_SSE: &str = "text/event-stream, application/json;q=0.5";
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// A worker's state between requests.
struct Worker {
    kind: Kind,
    target: Arc<Target>,
    session: Option<Session>,
    /// The standalone stream being watched (`Listen`), and where it ended last.
    watcher: Option<JoinHandle<Result<Watched, Error>>>,
    resume_from: Option<String>,
    /// The session was lost (404): the next one opened is a recovery.
    lost: bool,
    pause: Duration,
    tally: Tally,
}

/// Runs one worker until `until`; its counts come back when it ends.
pub async fn run(kind: Kind, target: Arc<Target>, until: Instant) -> Tally {
    let mut worker = Worker {
        kind,
        target,
        session: None,
        watcher: None,
        resume_from: None,
        lost: false,
        pause: FIRST_PAUSE,
        tally: Tally::default(),
    };
    let mut last_ok = false;
    while Instant::now() < until {
        let sent = SystemTime::now();
        let outcome = worker.step().await;
        last_ok = worker.account(outcome, sent).await;
    }
    if let Some(session) = worker.session.take() {
        session.close().await;
    }
    if let Some(watcher) = worker.watcher.take() {
        watcher.abort();
    }
    worker.tally.worker_done(last_ok);
    worker.tally
}

impl Worker {
    /// One request of this worker's kind, opening a session first if it has none.
    async fn step(&mut self) -> Result<(Duration, Framing), Error> {
        let tool = self.target.tool;
        if self.session.is_none() {
            let (session, _) = self.target.open().await?;
            if std::mem::take(&mut self.lost) {
                self.tally.recovered("reinitialized");
            }
            self.session = Some(session);
        }
        let Some(session) = &self.session else {
            return Err(Error::Exited);
        };
        match self.kind {
            Kind::Json => session.call(tool, ACCEPT_JSON).await,
            Kind::Stateless => session.call(tool, ACCEPT_BOTH).await,
            Kind::Sse => {
                let id = workload::next_id();
                match session.call_id(tool, ACCEPT_SSE, id).await {
                    Err(Error::StreamCut(Some(last))) => {
                        let answered = self.resumed(&last, id).await?;
                        self.tally.recovered("stream_resumed");
                        Ok(answered)
                    }
                    other => other,
                }
            }
            Kind::Resume => {
                let id = workload::next_id();
                let start = Instant::now();
                let http = session.http().ok_or(Error::Exited)?;
                let last = stream::post_and_drop(http, tool, id).await?;
                let answer = stream::resume(http, &last, id).await?;
                tool.check(id, &answer)?;
                Ok((start.elapsed(), Framing::Sse))
            }
            Kind::Listen => {
                self.watch().await?;
                let Some(session) = &self.session else {
                    return Err(Error::Exited);
                };
                session.call(tool, ACCEPT_JSON).await
            }
        }
    }

    /// Fetches the answer to `id` from its resumed stream.
    async fn resumed(&self, last: &str, id: u64) -> Result<(Duration, Framing), Error> {
        let start = Instant::now();
        let http = self
            .session
            .as_ref()
            .and_then(Session::http)
            .ok_or(Error::Exited)?;
        let answer = stream::resume(http, last, id).await?;
        self.target.tool.check(id, &answer)?;
        Ok((start.elapsed(), Framing::Sse))
    }

    /// Keeps the standalone stream open: when the watched one has ended, its result is counted and
    /// a new one is opened after the last event it delivered.
    async fn watch(&mut self) -> Result<(), Error> {
        if let Some(watcher) = &self.watcher {
            if !watcher.is_finished() {
                return Ok(());
            }
            if let Some(done) = self.watcher.take() {
                let watched = done.await.map_err(|e| Error::Child(e.to_string()))??;
                self.tally.streamed(watched.events);
                self.tally.recovered("standalone_reopened");
                self.resume_from = watched.last_event_id.or(self.resume_from.take());
            }
        }
        let http = self
            .session
            .as_ref()
            .and_then(Session::http)
            .ok_or(Error::Exited)?;
        let body = stream::open_standalone(http, self.resume_from.as_deref()).await?;
        self.watcher = Some(tokio::spawn(stream::watch(body)));
        Ok(())
    }

    /// Counts the outcome; on a 404 the session is dropped (the next step re-initializes), on any
    /// other error the worker pauses before retrying. Returns whether the request succeeded.
    async fn account(
        &mut self,
        outcome: Result<(Duration, Framing), Error>,
        sent: SystemTime,
    ) -> bool {
        match outcome {
            Ok((latency, framing)) => {
                self.tally.ok(latency, framing);
                self.pause = FIRST_PAUSE;
                true
            }
            Err(error) => {
                self.tally.error(&error, sent);
                if matches!(error, Error::Status { status: 404, .. }) {
                    self.session = None;
                    self.lost = true;
                    self.resume_from = None;
                    if let Some(watcher) = self.watcher.take() {
                        watcher.abort();
                    }
                }
                tokio::time::sleep(self.pause).await;
                self.pause = (self.pause * 2).min(LONGEST_PAUSE);
                false
            }
        }
    }
}
