//! Fixed-window counters for rate limits (`register_rate:{addr}`, `register_global`): checked and
//! counted in one atomic script, so concurrent requests can never overshoot a limit, and the time
//! left in a full window is what the caller tells the client (`Retry-After`, RFC 9110 §10.2.3).

use super::{Result, Store};

/// For each key in order: when its count has reached its limit, return the key's index (from 1)
/// and the seconds left in its window; otherwise count one in every key (a new window starts at
/// the first count) and return 0.
const CHECK_AND_COUNT: &str = r"
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local left = redis.call('TTL', key)
    if left < 1 then
      redis.call('EXPIRE', key, ARGV[1])
      left = tonumber(ARGV[1])
    end
    return {i, left}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1], 'NX')
end
return {0, 0}";

/// One counter and its limit per window.
pub struct Counter<'a> {
    pub key: &'a str,
    pub limit: u64,
}

/// The outcome of `Store::check_and_count`.
#[derive(Debug, PartialEq, Eq)]
pub enum Counted {
    Counted,
    /// The counter at this index (from 0) is full for `retry_after` more seconds.
    Full {
        index: usize,
        retry_after: u64,
    },
}

impl Store {
    /// Counts one event in every counter, unless one of them is full (then counts nothing).
    pub async fn check_and_count(&self, counters: &[Counter<'_>], window: u64) -> Result<Counted> {
        let script = redis::Script::new(CHECK_AND_COUNT);
        let mut script = script.prepare_invoke();
        script.arg(window.max(1));
        for c in counters {
            script.key(c.key).arg(c.limit);
        }
        let (index, left): (usize, u64) = script.invoke_async(&mut self.conn()).await?;
        Ok(match index {
            0 => Counted::Counted,
            i => Counted::Full {
                index: i - 1,
                retry_after: left.max(1),
            },
        })
    }
}
