//! `user_tokens:{user}` (docs/architecture/security.md#what-redis-holds): what a user holds, so the
//! admin CLI can list and revoke a user's tokens without scanning the keyspace. A sorted set of
//! `a:{jti}` (access tokens) and `f:{family id}` (refresh families) scored by expiry time. Bounded:
//! entries whose expiry has passed are dropped and only the `CAP` latest-expiring ones are kept;
//! the key expires with the longest-lived entry it indexes, and every write refreshes that (one
//! atomic script).

use redis::AsyncCommands;

use super::{Result, Store};
use crate::clock;

/// Entries per user at most; beyond it the earliest-expiring are forgotten (their tokens stay
/// valid until they expire; they are only no longer reachable through the index).
pub const CAP: usize = 1000;

const INDEX: &str = r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('EXPIREAT', KEYS[1], last[2]) end
return redis.call('ZCARD', KEYS[1])";

/// One thing a user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// An access token, by `jti` (`token:{jti}`).
    Access(String),
    /// A refresh family, by id (`family:{id}`).
    Family(String),
}

impl Held {
    fn member(&self) -> String {
        match self {
            Held::Access(jti) => format!("a:{jti}"),
            Held::Family(id) => format!("f:{id}"),
        }
    }

    fn parse(member: &str) -> Option<Held> {
        match member.split_once(':')? {
            ("a", jti) => Some(Held::Access(jti.to_owned())),
            ("f", id) => Some(Held::Family(id.to_owned())),
            _ => None,
        }
    }
}

impl Store {
    pub fn user_tokens_key(&self, user: &str) -> String {
        self.key("user_tokens", user)
    }

    /// Records that `user` holds `held` until `expires_at` (unix seconds).
    pub async fn index_user(&self, user: &str, held: &Held, expires_at: u64) -> Result<()> {
        let _: u64 = redis::Script::new(INDEX)
            .key(self.user_tokens_key(user))
            .arg(held.member())
            .arg(expires_at)
            .arg(clock::now())
            .arg(CAP)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// What `user` holds that has not expired yet, earliest expiry first.
    pub async fn held_by(&self, user: &str) -> Result<Vec<Held>> {
        let members: Vec<String> = self
            .conn()
            .zrangebyscore(self.user_tokens_key(user), clock::now(), "+inf")
            .await?;
        Ok(members.iter().filter_map(|m| Held::parse(m)).collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip() {
        for h in [Held::Access("j:1".into()), Held::Family("f".into())] {
            assert_eq!(Held::parse(&h.member()), Some(h));
        }
        assert_eq!(Held::parse("x:1"), None);
        assert_eq!(Held::parse("nocolon"), None);
    }
}
